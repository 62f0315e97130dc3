import FirezoneTime
import IPPacket
import NIOCore
import STUN
import TURNClient
import Testing

/// Channel numbers, binds and their refresh (Firezone's rust/connlib/snownet/src/allocation.rs).
struct ChannelTests {
    typealias Server = ScriptedServer

    static func peer(_ index: Int) -> IPSocketAddress {
        IPSocketAddress(.v4(IPv4Address(rawValue: 0x0A00_0000 + UInt32(index))), port: 9000)
    }

    @Test func aChannelInFlightCarriesDataAlready() throws {
        var server = Server()
        try server.allocate()
        let peer = Self.peer(1)
        #expect(server.allocation.channelForSending(to: peer, now: server.now) == nil)
        let bind = try #require(try server.sent().first)
        #expect(bind.message.type == STUNMessageType(method: .channelBind, class: .request))
        #expect(bind.message.channelNumber == 0x4000)
        #expect(bind.message.xorPeerAddress == peer)
        #expect(bind.message.software == Server.software)
        #expect(bind.message.verifyMessageIntegrity(key: Server.key))

        // Firezone #10062: the bind is on its way, the data follows it.
        #expect(server.allocation.channelForSending(to: peer, now: server.now) == ChannelNumber(0x4000))
        #expect(try server.sent().isEmpty)
        // Data from the peer only once the server confirmed the binding.
        #expect(server.allocation.peer(forChannel: ChannelNumber(0x4000), now: server.now) == nil)
        server.deliver(Server.response(to: bind.message, key: Server.key), for: bind)
        #expect(server.allocation.peer(forChannel: ChannelNumber(0x4000), now: server.now) == peer)
        #expect(server.allocation.peer(forChannel: ChannelNumber(0x4001), now: server.now) == nil)
        #expect(server.allocation.stats.unboundChannelData == 2)
    }

    @Test func bindsAskedForBeforeTheAllocationAreSentOnceItExists() throws {
        var server = Server()
        server.allocation.bindChannel(to: Self.peer(1), now: .zero)
        #expect(server.allocation.channelForSending(to: Self.peer(2), now: .zero) == nil)
        server.allocation.bindChannel(to: Self.peer(1), now: .zero)
        let log = try server.run(until: .zero)
        let binds = log.map(\.sent.message).filter { $0.type.method == .channelBind }
        #expect(binds.map(\.xorPeerAddress) == [Self.peer(1), Self.peer(2)])
        #expect(binds.map(\.channelNumber) == [0x4000, 0x4001])
        #expect(server.allocation.channelForSending(to: Self.peer(2), now: .zero) == ChannelNumber(0x4001))
    }

    @Test func theBufferOfEarlyBindsKeepsTheNewest100() throws {
        var server = Server()
        for index in 0..<150 {
            server.allocation.bindChannel(to: Self.peer(index), now: .zero)
        }
        #expect(server.allocation.stats.bufferedBindsDropped == 50)
        let log = try server.run(until: .zero)
        let binds = log.map(\.sent.message).filter { $0.type.method == .channelBind }
        #expect(binds.map(\.xorPeerAddress) == (50..<150).map(Self.peer))
    }

    @Test func aChannelWithDataIsReboundAtHalfItsLifetimeAndAnIdleOneIsNot() throws {
        var server = Server()
        try server.allocate()
        _ = server.allocation.channelForSending(to: Self.peer(1), now: server.now)
        _ = server.allocation.channelForSending(to: Self.peer(2), now: server.now)
        _ = try server.answerAll()
        #expect(server.allocation.peer(forChannel: ChannelNumber(0x4000), now: server.now) == Self.peer(1))

        let log = try server.run(until: .zero + .seconds(400))
        let binds = log.filter { $0.sent.message.type.method == .channelBind }
        // The keep-alive at 300 s is the first timer at or after the 5-minute mark.
        #expect(binds.map(\.time) == [.zero + .seconds(300)])
        #expect(binds.map(\.sent.message.channelNumber) == [0x4000])
        #expect(binds.map(\.sent.message.xorPeerAddress) == [Self.peer(1)])
        // Refreshed: no data since, no second refresh.
        #expect(try server.run(until: .zero + .seconds(700)).allSatisfy { $0.sent.message.type.method != .channelBind })
    }

    @Test func numbersGoRoundRobinAndAreReusedOnly15MinutesAfterTheirLastBind() throws {
        var server = Server()
        try server.allocate()
        let count = 0x1000
        for index in 0..<count {
            #expect(server.allocation.channelForSending(to: Self.peer(index), now: server.now) == nil)
            if index % 200 == 199 {
                _ = try server.answerAll()
            }
        }
        let last = try server.answerAll()
        #expect(last.last?.message.channelNumber == 0x4FFF)
        #expect(server.allocation.stats.channelBindsRefused == 0)

        // Every number is taken.
        let newcomer = Self.peer(count)
        #expect(server.allocation.channelForSending(to: newcomer, now: server.now) == nil)
        #expect(server.allocation.stats.channelBindsRefused == 1)
        #expect(try server.sent().isEmpty)

        // RFC 8656 §12: expired at 10 minutes, another peer's 5 minutes after that.
        _ = try server.run(until: .zero + .seconds(15 * 60) - .milliseconds(1))
        #expect(server.allocation.channelForSending(to: newcomer, now: server.now) == nil)
        #expect(server.allocation.stats.channelBindsRefused == 2)
        _ = try server.run(until: .zero + .seconds(15 * 60))
        #expect(server.allocation.channelForSending(to: newcomer, now: server.now) == nil)
        let bind = try #require(try server.sent().first)
        #expect(bind.message.channelNumber == 0x4000)
        #expect(bind.message.xorPeerAddress == newcomer)
        // Checked by number, 0x4000 is now the newcomer's and no longer its first peer's.
        #expect(server.allocation.canSend(on: ChannelNumber(0x4000), to: newcomer, now: server.now))
        #expect(!server.allocation.canSend(on: ChannelNumber(0x4000), to: Self.peer(0), now: server.now))
        #expect(server.allocation.channelForSending(to: Self.peer(0), now: server.now) == nil)
    }

    @Test func anExpiredChannelIsBoundAgainUnderItsOwnNumber() throws {
        var server = Server()
        try server.allocate()
        _ = server.allocation.channelForSending(to: Self.peer(1), now: server.now)
        _ = server.allocation.channelForSending(to: Self.peer(2), now: server.now)
        _ = try server.answerAll()
        #expect(server.allocation.canSend(on: ChannelNumber(0x4001), to: Self.peer(2), now: server.now))
        #expect(!server.allocation.canSend(on: ChannelNumber(0x4001), to: Self.peer(1), now: server.now))
        #expect(!server.allocation.canSend(on: ChannelNumber(0x4002), to: Self.peer(2), now: server.now))
        _ = try server.run(until: .zero + .seconds(10 * 60))
        // Expired: neither by number nor by address.
        #expect(!server.allocation.canSend(on: ChannelNumber(0x4001), to: Self.peer(2), now: server.now))
        #expect(server.allocation.channelForSending(to: Self.peer(2), now: server.now) == nil)
        let bind = try #require(try server.sent().first)
        #expect(bind.message.channelNumber == 0x4001)
        #expect(server.allocation.channelForSending(to: Self.peer(2), now: server.now) == ChannelNumber(0x4001))
    }

    @Test func noChannelToAFamilyTheRelayHasNoAddressFor() throws {
        var server = Server()
        _ = try server.run(until: .zero) { server, sent in
            sent.message.type.method == .allocate && sent.message.nonce != nil
                ? Server.response(
                    to: sent.message,
                    attributes: [.xorRelayedAddress(Server.relayedV4), .lifetime(600)],
                    key: Server.key
                )
                : server.standardResponse(to: sent.message, destination: sent.destination)
        }
        #expect(server.allocation.channelForSending(to: IPSocketAddress("[2001:db8:9::1]:9000")!, now: .zero) == nil)
        #expect(try server.sent().isEmpty)
        #expect(server.allocation.stats.channelBindsRefused == 1)
    }
}
