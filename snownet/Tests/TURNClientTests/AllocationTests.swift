import FirezoneTime
import IPPacket
import NIOCore
import STUN
import TURNClient
import Testing

struct AllocationTests {
    typealias Server = ScriptedServer

    @Test func startsWithAnUnauthenticatedBindingThenAllocates() throws {
        var server = Server()
        let binding = try #require(try server.sent().first)
        #expect(binding.destination == Server.serverV4)
        #expect(binding.message.type == STUNMessageType(method: .binding, class: .request))
        #expect(binding.message.software == Server.software)
        #expect(!binding.message.hasMessageIntegrity)

        server.deliver(server.standardResponse(to: binding.message, destination: binding.destination), for: binding)
        #expect(
            server.events() == [
                .newAddress(.host, Server.localV4), .newAddress(.serverReflexive, Server.mappedV4),
            ]
        )
        #expect(server.allocation.activeSocket == Server.serverV4)

        // RFC 8489 §9.2.3.1: the first request carries no credentials.
        let allocate = try #require(try server.sent().first)
        #expect(allocate.message.type == STUNMessageType(method: .allocate, class: .request))
        #expect(allocate.message.requestedTransport == 17)
        #expect(allocate.message.additionalAddressFamily == .v6)
        #expect(allocate.message.requestedAddressFamily == nil)
        #expect(allocate.message.software == Server.software)
        #expect(allocate.message.username == nil && allocate.message.nonce == nil)
        #expect(!allocate.message.hasMessageIntegrity)

        // The 401 brings REALM and NONCE: the same request again, signed, under a new transaction id.
        server.deliver(server.standardResponse(to: allocate.message, destination: allocate.destination), for: allocate)
        let signed = try #require(try server.sent().first)
        #expect(signed.message.type.method == .allocate)
        #expect(signed.message.transactionID != allocate.message.transactionID)
        #expect(signed.message.username == Server.username)
        #expect(signed.message.realm == Server.realm)
        #expect(signed.message.nonce == server.nonce)
        #expect(signed.message.verifyMessageIntegrity(key: Server.key))
        #expect(signed.message.additionalAddressFamily == .v6)

        server.deliver(server.standardResponse(to: signed.message, destination: signed.destination), for: signed)
        #expect(server.events() == [.newAddress(.relayed, Server.relayedV4), .newAddress(.relayed, Server.relayedV6)])
        #expect(server.allocation.relayedAddresses == [Server.relayedV4, Server.relayedV6])
        #expect(server.allocation.hostAddresses == [Server.localV4])
        #expect(server.allocation.serverReflexiveAddresses == [Server.mappedV4])
        #expect(!server.allocation.canBeFreed)
    }
}

extension AllocationTests {
    @Test func aDualStackServerGetsABindingPerFamilyAndTheFirstAnswerPicksTheActiveSocket() throws {
        var server = Server(server: .dual(v4: Server.serverV4, v6: Server.serverV6))
        let bindings = try server.sent()
        #expect(bindings.map(\.destination) == [Server.serverV4, Server.serverV6])
        #expect(bindings.allSatisfy { $0.message.type.method == .binding })

        server.deliver(server.standardResponse(to: bindings[1].message, destination: Server.serverV6), for: bindings[1])
        #expect(server.allocation.activeSocket == Server.serverV6)
        #expect(
            server.events() == [.newAddress(.host, Server.localV6), .newAddress(.serverReflexive, Server.mappedV6)]
        )
        let allocate = try server.sent()
        #expect(allocate.map(\.destination) == [Server.serverV6])
        #expect(allocate.first?.message.additionalAddressFamily == .v6)

        // The other family's answer adds its addresses but starts nothing.
        server.deliver(server.standardResponse(to: bindings[0].message, destination: Server.serverV4), for: bindings[0])
        #expect(server.allocation.activeSocket == Server.serverV6)
        #expect(
            server.events() == [.newAddress(.host, Server.localV4), .newAddress(.serverReflexive, Server.mappedV4)]
        )
        #expect(try server.sent().isEmpty)
        #expect(server.allocation.hostAddresses == [Server.localV4, Server.localV6])
    }

    @Test func anIPv6OnlyServerIsAskedForIPv6Alone() throws {
        var server = Server(server: .v6(Server.serverV6))
        let binding = try #require(try server.sent().first)
        server.deliver(server.standardResponse(to: binding.message, destination: binding.destination), for: binding)
        let allocate = try #require(try server.sent().first)
        #expect(allocate.message.requestedAddressFamily == .v6)
        #expect(allocate.message.additionalAddressFamily == nil)
    }

    @Test func aChangedHostAddressIsAnnouncedThenTheOldOneInvalidated() throws {
        var server = Server()
        try server.allocate()
        let moved = IPSocketAddress("192.168.1.3:40001")!
        let log = try server.run(until: .zero + .seconds(25)) { _, _ in nil }
        let keepalive = try #require(log.last?.sent)
        let response = server.standardResponse(to: keepalive.message, destination: keepalive.destination)
        let handled1 = server.allocation.handleSTUN(response, from: Server.serverV4, local: moved, now: server.now)
        #expect(handled1)
        #expect(server.events() == [.newAddress(.host, moved), .invalidatedAddress(.host, Server.localV4)])
    }

    @Test func aConfiguredRealmOtherThanTheServersIsRefused() throws {
        var server = Server(realm: "elsewhere")
        let log = try server.run(until: .zero)
        #expect(log.map(\.sent.message.type.method) == [.binding, .allocate])
        #expect(server.allocation.stats.realmMismatches == 1)
        #expect(server.allocation.relayedAddresses.isEmpty)
    }

    @Test func anEmptyRealmAdoptsTheServers() throws {
        var server = Server(realm: "")
        let log = try server.run(until: .zero)
        #expect(log.map(\.sent.message.type.method) == [.binding, .allocate, .allocate])
        let signed = try #require(log.last?.sent.message)
        #expect(signed.realm == Server.realm)
        #expect(signed.verifyMessageIntegrity(key: Server.key))
        #expect(server.allocation.relayedAddresses == [Server.relayedV4, Server.relayedV6])
    }

    @Test func responsesThatAreNotOursAreReportedAsSuch() throws {
        var server = Server()
        let binding = try #require(try server.sent().first)
        let response = server.standardResponse(to: binding.message, destination: binding.destination)
        let stranger = IPSocketAddress("203.0.113.2:3478")!
        let handled2 = server.allocation.handleSTUN(response, from: stranger, local: Server.localV4, now: .zero)
        #expect(!handled2)
        var other = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .binding, class: .successResponse),
            transactionID: TransactionID(high: 1, low: 2),
            attributes: [.xorMappedAddress(Server.mappedV4)],
            into: &other
        )
        let unknown = try STUNMessage(decoding: other)
        let handled3 = server.allocation.handleSTUN(unknown, from: Server.serverV4, local: Server.localV4, now: .zero)
        #expect(!handled3)
        #expect(server.events().isEmpty)
        let handled4 = server.deliver(response, for: binding)
        #expect(handled4)
    }

    @Test func signedResponsesMustPassTheirIntegrityCheck() throws {
        var server = Server()
        var log = try server.run(until: .zero) { server, sent in
            sent.message.type.method == .allocate && sent.message.nonce != nil
                ? nil : server.standardResponse(to: sent.message, destination: sent.destination)
        }
        let signed = try #require(log.last?.sent)
        _ = server.events()
        let success: [STUNAttribute] = [.xorRelayedAddress(Server.relayedV4), .lifetime(600)]
        let forged = Server.response(to: signed.message, attributes: success, key: Array("wrong".utf8))
        let handled5 = server.deliver(forged, for: signed)
        #expect(handled5)
        let unsigned = Server.response(to: signed.message, attributes: success)
        let handled6 = server.deliver(unsigned, for: signed)
        #expect(handled6)
        #expect(server.allocation.stats.integrityFailures == 2)
        #expect(server.events().isEmpty)
        #expect(server.allocation.relayedAddresses.isEmpty)

        // The request is still running: its retransmission is answered properly.
        log = try server.run(until: .zero + .seconds(1)) { _, _ in nil }
        let retransmission = try #require(log.last?.sent)
        #expect(retransmission.message.type.method == .allocate)
        server.deliver(
            Server.response(to: retransmission.message, attributes: success, key: Server.key),
            for: retransmission
        )
        #expect(server.allocation.relayedAddresses == [Server.relayedV4])
    }

    @Test func smoothedRTTIsAnEWMAOfSevenEighthsOldAndOneEighthNew() throws {
        var server = Server()
        #expect(server.allocation.smoothedRTT == nil)
        let binding = try #require(try server.sent().first)
        server.now = .zero + .milliseconds(100)
        server.deliver(server.standardResponse(to: binding.message, destination: binding.destination), for: binding)
        #expect(server.allocation.smoothedRTT == .milliseconds(100))

        let allocate = try #require(try server.sent().first)
        server.now = server.now + .milliseconds(200)
        server.deliver(server.standardResponse(to: allocate.message, destination: allocate.destination), for: allocate)
        #expect(server.allocation.smoothedRTT == .microseconds(112_500))

        let signed = try #require(try server.sent().first)
        server.now = server.now + .milliseconds(400)
        server.deliver(server.standardResponse(to: signed.message, destination: signed.destination), for: signed)
        #expect(server.allocation.smoothedRTT == .microseconds(148_437) + .nanoseconds(500))
    }

    @Test func aRetransmittedBindingGivesNoRTTSample() throws {
        var server = Server()
        let log = try server.run(until: .zero + .seconds(1)) { _, _ in nil }
        let retransmitted = try #require(log.last?.sent)
        #expect(log.count == 2)
        server.now = server.now + .milliseconds(10)
        server.deliver(
            server.standardResponse(to: retransmitted.message, destination: retransmitted.destination),
            for: retransmitted
        )
        #expect(server.allocation.activeSocket == Server.serverV4)
        #expect(server.allocation.smoothedRTT == nil)
    }
}
