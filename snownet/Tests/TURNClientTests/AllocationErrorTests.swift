import FirezoneTime
import IPPacket
import NIOCore
import STUN
import TURNClient
import Testing

/// The error responses a TURN client handles (RFC 8656 §7, Firezone's rust/connlib/snownet/src/allocation.rs),
/// each built by hand.
struct AllocationErrorTests {
    typealias Server = ScriptedServer

    /// Answers everything the standard way except the first request for which `pick` is true; returns that one.
    static func runUntil(
        _ server: inout Server,
        _ time: Instant = .zero,
        pick: (Server.Sent) -> Bool
    ) throws -> Server.Sent? {
        var picked: Server.Sent?
        _ = try server.run(until: time) { server, sent in
            if picked == nil && pick(sent) {
                picked = sent
                return nil
            }
            return server.standardResponse(to: sent.message, destination: sent.destination)
        }
        return picked
    }

    static func isSigned(_ method: STUNMethod) -> (Server.Sent) -> Bool {
        { $0.message.type.method == method && $0.message.nonce != nil }
    }

    @Test func a401ToASignedRequestMeansTheCredentialsAreWrong() throws {
        var server = Server()
        let signed = try #require(try Self.runUntil(&server, pick: Self.isSigned(.allocate)))
        _ = server.events()
        let refusal = Server.response(
            to: signed.message,
            error: .unauthorized,
            attributes: [.realm(Server.realm), .nonce(server.nonce)]
        )
        let handled1 = server.deliver(refusal, for: signed)
        #expect(handled1)
        #expect(try server.sent().isEmpty)
        #expect(server.allocation.canBeFreed)
    }

    @Test func a401ToASignedRefreshInvalidatesTheAllocation() throws {
        var server = Server()
        let refresh = try #require(
            try Self.runUntil(&server, .zero + .seconds(300), pick: { $0.message.type.method == .refresh })
        )
        _ = server.events()
        server.deliver(
            Server.response(to: refresh.message, error: .unauthorized, attributes: [.nonce(server.nonce)]),
            for: refresh
        )
        #expect(
            server.events() == [
                .invalidatedAddress(.relayed, Server.relayedV4), .invalidatedAddress(.relayed, Server.relayedV6),
            ]
        )
        #expect(server.allocation.canBeFreed)
    }

    @Test func a438BringsANewNonceAndTheRequestIsSentAgainWithIt() throws {
        var server = Server()
        try server.allocate()
        server.nonce = "nonce-2"
        let log = try server.run(until: .zero + .seconds(300))
        let refreshes = log.filter { $0.sent.message.type.method == .refresh }.map(\.sent.message)
        #expect(refreshes.map(\.nonce) == ["nonce-1", "nonce-2"])
        #expect(refreshes[1].verifyMessageIntegrity(key: Server.key))
        #expect(refreshes[0].transactionID != refreshes[1].transactionID)
        #expect(server.allocation.relayedAddresses.count == 2)
        #expect(server.events().isEmpty)
    }

    @Test func aChallengeThatRepeatsTheRefusedNonceIsNotRetried() throws {
        var server = Server()
        let refresh = try #require(
            try Self.runUntil(&server, .zero + .seconds(300), pick: { $0.message.type.method == .refresh })
        )
        let handled = server.deliver(
            Server.response(to: refresh.message, error: .staleNonce, attributes: [.nonce(server.nonce)]),
            for: refresh
        )
        #expect(handled)
        #expect(try server.sent().isEmpty)
        #expect(server.allocation.stats.repeatedChallenges == 1)
    }

    @Test func a437ToAllocateDeletesTheServersAllocationThenAllocatesAgain() throws {
        var server = Server()
        let signed = try #require(try Self.runUntil(&server, pick: Self.isSigned(.allocate)))
        server.deliver(Server.response(to: signed.message, error: .allocationMismatch, key: Server.key), for: signed)
        let delete = try #require(try server.sent().first)
        #expect(delete.message.type.method == .refresh)
        #expect(delete.message.lifetime == 0)
        #expect(delete.message.verifyMessageIntegrity(key: Server.key))

        server.deliver(server.standardResponse(to: delete.message, destination: delete.destination), for: delete)
        let allocate = try #require(try server.sent().first)
        #expect(allocate.message.type.method == .allocate)
        server.deliver(server.standardResponse(to: allocate.message, destination: allocate.destination), for: allocate)
        #expect(server.allocation.relayedAddresses == [Server.relayedV4, Server.relayedV6])
    }

    /// 437 to ALLOCATE, and the deletion refused (441: the allocation belongs to other credentials): ALLOCATE
    /// again a keep-alive interval later, not at once, and not never.
    @Test func aRefusedDeletionAllocatesAgainAfterAKeepaliveInterval() throws {
        var server = Server()
        let signed = try #require(try Self.runUntil(&server, pick: Self.isSigned(.allocate)))
        server.deliver(Server.response(to: signed.message, error: .allocationMismatch, key: Server.key), for: signed)
        let delete = try #require(try server.sent().first)
        #expect(delete.message.lifetime == 0)
        server.deliver(Server.response(to: delete.message, error: .wrongCredentials, key: Server.key), for: delete)
        #expect(try server.sent().isEmpty)
        let refusedAt = server.now
        server.advance(to: refusedAt + .seconds(24))
        #expect(try server.sent().filter { $0.message.type.method == .allocate }.isEmpty)
        server.advance(to: refusedAt + .seconds(25))
        let again = try server.sent().filter { $0.message.type.method == .allocate }
        #expect(again.count == 1)
    }

    @Test func a437ToRefreshAllocatesAnew() throws {
        var server = Server()
        let refresh = try #require(
            try Self.runUntil(&server, .zero + .seconds(300), pick: { $0.message.type.method == .refresh })
        )
        _ = server.events()
        server.deliver(Server.response(to: refresh.message, error: .allocationMismatch, key: Server.key), for: refresh)
        #expect(
            server.events() == [
                .invalidatedAddress(.relayed, Server.relayedV4), .invalidatedAddress(.relayed, Server.relayedV6),
            ]
        )
        let allocate = try #require(try server.sent().first)
        #expect(allocate.message.type.method == .allocate)
        server.deliver(server.standardResponse(to: allocate.message, destination: allocate.destination), for: allocate)
        #expect(server.events() == [.newAddress(.relayed, Server.relayedV4), .newAddress(.relayed, Server.relayedV6)])
    }

    @Test func a437ToChannelBindAllocatesAnewAndBindsAgain() throws {
        var server = Server()
        try server.allocate()
        let peer = IPSocketAddress("198.51.100.20:7000")!
        #expect(server.allocation.channelForSending(to: peer, now: server.now) == nil)
        let bind = try #require(try server.sent().first)
        #expect(bind.message.type.method == .channelBind)
        server.deliver(Server.response(to: bind.message, error: .allocationMismatch, key: Server.key), for: bind)
        let allocate = try #require(try server.sent().first)
        #expect(allocate.message.type.method == .allocate)
        server.deliver(server.standardResponse(to: allocate.message, destination: allocate.destination), for: allocate)
        let again = try #require(try server.sent().first)
        #expect(again.message.type.method == .channelBind)
        #expect(again.message.xorPeerAddress == peer)
    }

    @Test func a420IsAProtocolFailure() throws {
        var server = Server()
        let signed = try #require(try Self.runUntil(&server, pick: Self.isSigned(.allocate)))
        #expect(!server.allocation.canBeFreed)
        server.deliver(
            Server.response(
                to: signed.message,
                error: .unknownAttribute,
                attributes: [.unknownAttributes([STUNConstants.AttributeType.additionalAddressFamily])],
                key: Server.key
            ),
            for: signed
        )
        #expect(server.allocation.canBeFreed)
    }

    @Test func anyOtherAllocateErrorForgetsTheBufferedBinds() throws {
        var server = Server()
        let peer = IPSocketAddress("198.51.100.20:7000")!
        server.allocation.bindChannel(to: peer, now: .zero)
        let signed = try #require(try Self.runUntil(&server, pick: Self.isSigned(.allocate)))
        server.deliver(Server.response(to: signed.message, error: .insufficientCapacity, key: Server.key), for: signed)
        #expect(try server.sent().isEmpty)

        // The allocation gave up; a probe restarts it from BINDING, and no bind follows the new allocation.
        server.allocation.refresh(now: server.now)
        let log = try server.run(until: server.now)
        #expect(log.map(\.sent.message.type.method) == [.binding, .allocate])
        #expect(server.allocation.relayedAddresses.count == 2)
    }

    @Test func anyOtherChannelBindErrorForgetsThatChannel() throws {
        var server = Server()
        try server.allocate()
        let first = IPSocketAddress("198.51.100.20:7000")!
        let second = IPSocketAddress("198.51.100.21:7000")!
        _ = server.allocation.channelForSending(to: first, now: server.now)
        _ = server.allocation.channelForSending(to: second, now: server.now)
        let binds = try server.sent()
        #expect(binds.map(\.message.channelNumber) == [0x4000, 0x4001])
        server.deliver(Server.response(to: binds[0].message, key: Server.key), for: binds[0])
        server.deliver(Server.response(to: binds[1].message, error: .forbidden, key: Server.key), for: binds[1])

        #expect(server.allocation.channelForSending(to: first, now: server.now) == ChannelNumber(0x4000))
        #expect(server.allocation.channelForSending(to: second, now: server.now) == nil)
        let rebind = try #require(try server.sent().first)
        #expect(rebind.message.channelNumber == 0x4002)
        #expect(rebind.message.xorPeerAddress == second)
    }
}
