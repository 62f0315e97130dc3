import CRelayXDP
import FirezoneTesting
import IPPacket
import Logging
import NIOCore
import Relay
import RelayCore
import RelayXDP
import STUN
import Testing

/// ``XDPOffload/mirror(_:)`` keeps the kernel's maps in step with the core's channel bindings. The program is
/// loaded but not attached; frames go through it with `BPF_PROG_TEST_RUN`, so what the maps hold shows in the
/// verdicts.
@Suite(.enabled(if: PrivilegedTests.enabled, "needs root: loads the XDP program into the kernel"))
struct XDPOffloadTests {
    static let publicIPv4 = IPv4Address(203, 0, 113, 1)
    static let listenPort: UInt16 = 3478
    static let client = ClientSocket(IPSocketAddress(.v4(IPv4Address(192, 0, 2, 10)), port: 40_000))
    static let peer = PeerSocket(IPSocketAddress(.v4(IPv4Address(198, 51, 100, 20)), port: 51_000))
    static let port = AllocationPort(50_000)
    static let channel = ChannelNumber(0x4001)

    static func program() throws -> XDPProgram {
        try XDPProgram(
            configuration: XDPConfiguration(
                publicIPv4: Self.publicIPv4,
                publicIPv6: nil,
                interfaceIPv4: Self.publicIPv4,
                interfaceIPv6: nil,
                listenPort: Self.listenPort,
                allocationPorts: 49152...65535,
                interfaceMTU: nil
            )
        )
    }

    /// A UDP datagram in an Ethernet frame to the relay.
    static func frame(from source: IPSocketAddress, toPort port: UInt16, payload: [UInt8]) throws -> [UInt8] {
        let packet = try IPPacket.makeUDP(
            source: source.address,
            sourcePort: source.port,
            destination: .v4(Self.publicIPv4),
            destinationPort: port,
            payload: ByteBuffer(bytes: payload),
            hopLimit: 64
        )
        let macs: [UInt8] = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]
        return macs + [0x08, 0x00] + Array(packet.buffer.readableBytesView)
    }

    /// RFC 8656 §12.4: the client's channel data on the listening port.
    static func channelData() throws -> [UInt8] {
        let data: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let header = [UInt8(Self.channel.value >> 8), UInt8(Self.channel.value & 0xFF), 0, UInt8(data.count)]
        return try Self.frame(from: Self.client.address, toPort: Self.listenPort, payload: header + data)
    }

    /// The peer's datagram on the allocation port.
    static func peerDatagram() throws -> [UInt8] {
        try Self.frame(from: Self.peer.address, toPort: Self.port.value, payload: [9, 9, 9, 9])
    }

    static let create = RelayCommand.createChannelBinding(
        client: client,
        channel: channel,
        peer: peer,
        port: port
    )
    static let delete = RelayCommand.deleteChannelBinding(
        client: client,
        channel: channel,
        peer: peer,
        port: port
    )

    @Test
    func aMirroredBindingRelaysBothDirectionsUntilItsDeletionIsMirrored() throws {
        let program = try Self.program()
        let logs = LogRecorder()
        let offload = XDPOffload(program: program, logger: logs.logger)
        #expect(try program.testRun(Self.channelData()).action == .pass)
        #expect(try program.testRun(Self.peerDatagram()).action == .pass)

        offload.mirror(Self.create)
        #expect(try program.testRun(Self.channelData()).action == .tx)
        #expect(try program.testRun(Self.peerDatagram()).action == .tx)

        offload.mirror(Self.delete)
        #expect(try program.testRun(Self.channelData()).action == .pass)
        #expect(try program.testRun(Self.peerDatagram()).action == .pass)
        let counters = try program.counters()
        #expect(counters.packets(RELAY_XDP_CHANNEL_TO_UDP) == 1)
        #expect(counters.packets(RELAY_XDP_UDP_TO_CHANNEL) == 1)
        #expect(counters.packets(RELAY_XDP_PASS_NO_CHANNEL_BINDING) == 2)
        #expect(counters.packets(RELAY_XDP_PASS_NO_PEER_BINDING) == 2)
        #expect(offload.failedInserts == 0)
        #expect(logs.errors.isEmpty)
    }

    /// A refresh mirrors the binding again: an entry the maps lost (here deleted behind the offload's back) is
    /// back after the client's next CHANNEL-BIND.
    @Test
    func aRefreshPutsBackABindingTheMapsLost() throws {
        let program = try Self.program()
        let offload = XDPOffload(program: program, logger: LogRecorder().logger)
        offload.mirror(Self.create)
        try program.deleteBinding(client: Self.client, channel: Self.channel, peer: Self.peer, port: Self.port)
        #expect(try program.testRun(Self.channelData()).action == .pass)

        offload.mirror(
            .refreshChannelBinding(client: Self.client, channel: Self.channel, peer: Self.peer, port: Self.port)
        )
        #expect(try program.testRun(Self.channelData()).action == .tx)
        #expect(try program.testRun(Self.peerDatagram()).action == .tx)
        #expect(offload.failedInserts == 0)
    }

    /// Allocations, and the messages the relay sends, are userspace's: mirroring them changes no map.
    @Test
    func commandsOtherThanBindingsLeaveTheMapsAlone() throws {
        let program = try Self.program()
        let offload = XDPOffload(program: program, logger: LogRecorder().logger)
        offload.mirror(Self.create)
        offload.mirror(.createAllocation(Self.port, .v4))
        offload.mirror(.freeAllocation(Self.port, .v4))
        offload.mirror(.sendMessage(ByteBuffer(bytes: [0, 1]), to: Self.client))
        #expect(try program.testRun(Self.channelData()).action == .tx)
        #expect(try program.testRun(Self.peerDatagram()).action == .tx)
        #expect(offload.failedInserts == 0)
    }

    /// The core deletes each binding once; a deletion the maps no longer hold (a second one) is no failure.
    @Test
    func deletingABindingTheMapsDoNotHoldIsNoFailure() throws {
        let logs = LogRecorder()
        let offload = XDPOffload(program: try Self.program(), logger: logs.logger)
        offload.mirror(Self.delete)
        offload.mirror(Self.create)
        offload.mirror(Self.delete)
        offload.mirror(Self.delete)
        #expect(offload.failedInserts == 0)
        #expect(logs.errors.isEmpty)
    }

    /// Full maps refuse the next binding: the offload counts it, and its traffic goes to userspace, which holds
    /// the binding and relays it.
    @Test
    func aBindingTheFullMapsRefuseIsCountedAndLeftToUserspace() throws {
        let program = try Self.program()
        let logs = LogRecorder()
        let offload = XDPOffload(program: program, logger: logs.logger)
        // Another peer than the mirrored binding's, so that none of its keys is taken already.
        let otherPeer = PeerSocket(IPSocketAddress(.v4(IPv4Address(198, 51, 100, 99)), port: 51_000))
        for index in 0..<Int(RELAY_XDP_MAXIMUM_BINDINGS) {
            let client = ClientSocket(IPSocketAddress(.v4(IPv4Address(rawValue: 0x6440_0000 | UInt32(index))), port: 1))
            try program.insertBinding(
                client: client,
                channel: Self.channel,
                peer: otherPeer,
                port: AllocationPort(UInt16(truncatingIfNeeded: index))
            )
        }
        offload.mirror(Self.create)
        #expect(offload.failedInserts == 1)
        #expect(logs.errors.isEmpty, "a warning: nothing is lost")
        #expect(try program.testRun(Self.channelData()).action == .pass)
        #expect(try program.testRun(Self.peerDatagram()).action == .pass)
    }
}
