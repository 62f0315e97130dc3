import FirezoneTime
import IPPacket
import NIOCore
import STUN
import TURNClient
import Testing

/// Retransmission, refresh, keep-alive and expiry, to the nanosecond.
struct AllocationTimerTests {
    typealias Server = ScriptedServer

    static func at(_ milliseconds: Int64) -> Instant {
        .zero + .milliseconds(milliseconds)
    }

    @Test func aBindingIsSentAt0And1And2_5And4_75SecondsWithTheSameBytesThenAbandonedAt8_125() throws {
        var server = Server()
        let log = try server.run(until: Self.at(8_124)) { _, _ in nil }
        #expect(log.map(\.time) == [Self.at(0), Self.at(1_000), Self.at(2_500), Self.at(4_750)])
        #expect(Set(log.map(\.sent.bytes)).count == 1)
        #expect(server.allocation.pollTimeout() == Self.at(8_125))
        #expect(!server.allocation.canBeFreed)

        _ = try server.run(until: Self.at(8_125)) { _, _ in nil }
        #expect(server.allocation.pollTimeout() == nil)
        #expect(server.allocation.stats.requestsAbandoned == 1)
        // No answer ever came.
        #expect(server.allocation.canBeFreed)
    }

    @Test func aSignedRequestIsRebuiltWithAFreshTransactionIDAndAbandonedAt8_125() throws {
        var server = Server()
        let log = try server.run(until: Self.at(8_125)) { server, sent in
            sent.message.nonce != nil ? nil : server.standardResponse(to: sent.message, destination: sent.destination)
        }
        let signed = log.filter { $0.sent.message.nonce != nil }
        #expect(signed.map(\.time) == [Self.at(0), Self.at(1_000), Self.at(2_500), Self.at(4_750)])
        #expect(Set(signed.map(\.sent.message.transactionID)).count == 4)
        #expect(signed.allSatisfy { $0.sent.message.verifyMessageIntegrity(key: Server.key) })
        #expect(signed.allSatisfy { $0.sent.message.type.method == .allocate })

        // Abandoned on the active socket's family: the relay is presumed gone.
        #expect(server.allocation.activeSocket == nil)
        _ = server.events()
        #expect(server.allocation.canBeFreed)
    }

    @Test func theAllocationIsRefreshedAtHalfItsLifetime() throws {
        var server = Server()
        server.lifetime = 120
        try server.allocate()
        let log = try server.run(until: .zero + .seconds(200))
        let refreshes = log.filter { $0.sent.message.type.method == .refresh }
        #expect(refreshes.map(\.time) == [60, 120, 180].map { Instant.zero + .seconds($0) })
        #expect(refreshes.allSatisfy { $0.sent.message.lifetime == nil })
        #expect(server.allocation.relayedAddresses.count == 2)
    }

    @Test func aKeepaliveBindingGoesToTheActiveSocketEvery25Seconds() throws {
        var server = Server()
        try server.allocate()
        let log = try server.run(until: .zero + .seconds(100))
        let bindings = log.filter { $0.sent.message.type.method == .binding }
        #expect(bindings.map(\.time) == [25, 50, 75, 100].map { .zero + .seconds($0) })
        #expect(bindings.allSatisfy { $0.sent.destination == Server.serverV4 })
    }

    @Test func aLifetimeOfZeroInARefreshResponseMeansAllocatingAgain() throws {
        var server = Server()
        try server.allocate()
        let log = try server.run(until: .zero + .seconds(300)) { server, sent in
            sent.message.type.method == .refresh
                ? Server.response(to: sent.message, attributes: [.lifetime(0)], key: Server.key)
                : server.standardResponse(to: sent.message, destination: sent.destination)
        }
        #expect(log.suffix(2).map(\.sent.message.type.method) == [.refresh, .allocate])
        #expect(
            server.events() == [
                .invalidatedAddress(.relayed, Server.relayedV4), .invalidatedAddress(.relayed, Server.relayedV6),
                .newAddress(.relayed, Server.relayedV4), .newAddress(.relayed, Server.relayedV6),
            ]
        )
    }

    @Test func anAllocationWhoseRefreshesFailExpiresAndInvalidatesItsAddresses() throws {
        var server = Server()
        try server.allocate()
        let log = try server.run(until: .zero + .seconds(600)) { server, sent in
            sent.message.type.method == .refresh
                ? Server.response(to: sent.message, error: .serverError, key: Server.key)
                : server.standardResponse(to: sent.message, destination: sent.destination)
        }
        // A refused refresh is tried again a keep-alive interval later, not at the pace of the round trip.
        let refreshes = log.filter { $0.sent.message.type.method == .refresh }.map(\.time)
        #expect(refreshes == stride(from: 300, to: 600, by: 25).map { .zero + .seconds($0) })
        #expect(
            server.events() == [
                .invalidatedAddress(.relayed, Server.relayedV4), .invalidatedAddress(.relayed, Server.relayedV6),
            ]
        )
        #expect(server.allocation.relayedAddresses.isEmpty)
    }

    @Test func aRelayThatStopsAnsweringIsGivenUpAfterTheKeepalivesBudget() throws {
        var server = Server()
        try server.allocate()
        let log = try server.run(until: .zero + .seconds(40)) { _, _ in nil }
        #expect(log.map(\.time) == [25_000, 26_000, 27_500, 29_750].map(Self.at))
        #expect(
            server.events() == [
                .invalidatedAddress(.relayed, Server.relayedV4), .invalidatedAddress(.relayed, Server.relayedV6),
            ]
        )
        #expect(server.allocation.canBeFreed)
        #expect(server.allocation.pollTimeout() == nil)

        // A probe starts over from BINDING.
        server.allocation.refresh(now: server.now)
        #expect(try server.sent().map(\.message.type.method) == [.binding])
    }

    @Test func aProbeIsASingleOneSecondAttempt() throws {
        var server = Server()
        try server.allocate()
        server.now = .zero + .seconds(10)
        server.allocation.refresh(now: server.now)
        let probe = try #require(try server.sent().first)
        #expect(probe.message.type.method == .refresh)
        #expect(server.allocation.pollTimeout() == .zero + .seconds(11))
        let log = try server.run(until: .zero + .seconds(11)) { _, _ in nil }
        #expect(log.isEmpty)
        #expect(server.allocation.relayedAddresses.isEmpty)
        #expect(server.allocation.activeSocket == nil)
    }

    @Test func anAnsweredProbeKeepsTheAllocation() throws {
        var server = Server()
        try server.allocate()
        server.now = .zero + .seconds(10)
        server.allocation.refresh(now: server.now)
        _ = try server.run(until: .zero + .seconds(20))
        #expect(server.allocation.relayedAddresses.count == 2)
        #expect(server.events().isEmpty)
    }
}
