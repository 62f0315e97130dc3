import CRelayXDP
import FirezoneTesting
import IPPacket
import RelayCore
import RelayXDP
import Testing

/// Every translation of the XDP program, in every family combination, run in the kernel with
/// `BPF_PROG_TEST_RUN` and checked field by field against IPPacket's own dissection and checksums.
@Suite(.enabled(if: PrivilegedTests.enabled, "needs root: loads the XDP program into the kernel"))
struct XDPTranslationTests {
    typealias F = XDPTestFixture

    @Test(arguments: F.familyPairs)
    func channelDataFromAClientBecomesUDPToItsPeer(client: IPVersion, peer: IPVersion) throws {
        let program = try F.program()
        try program.insertBinding(
            client: F.client(client),
            channel: F.channel,
            peer: F.peer(peer),
            port: F.allocationPort
        )
        let data = XDPTestFrames.data(1)

        let result = try program.testRun(
            XDPTestFrames.udp(
                from: F.client(client).address,
                to: IPSocketAddress(F.relayAddress(client), port: F.listenPort),
                payload: XDPTestFrames.channelData(F.channel.value, data)
            )
        )

        try expectTransmitted(
            result,
            input: client,
            source: F.expectedSource(from: client, to: peer),
            destination: F.peer(peer).address,
            sourcePort: F.allocationPort.value,
            udpPayload: data
        )
        let counters = try program.counters()
        #expect(counters.packets(RELAY_XDP_CHANNEL_TO_UDP) == 1)
        #expect(counters.bytes(RELAY_XDP_CHANNEL_TO_UDP) == UInt64(data.count))
        #expect(counters.relayedPackets == 1)
    }

    @Test(arguments: F.familyPairs)
    func udpFromAPeerBecomesChannelDataToTheClient(peer: IPVersion, client: IPVersion) throws {
        let program = try F.program()
        try program.insertBinding(
            client: F.client(client),
            channel: F.channel,
            peer: F.peer(peer),
            port: F.allocationPort
        )
        let data = XDPTestFrames.data(2)

        let result = try program.testRun(
            XDPTestFrames.udp(
                from: F.peer(peer).address,
                to: IPSocketAddress(F.relayAddress(peer), port: F.allocationPort.value),
                payload: data
            )
        )

        try expectTransmitted(
            result,
            input: peer,
            source: F.expectedSource(from: peer, to: client),
            destination: F.client(client).address,
            sourcePort: F.listenPort,
            udpPayload: XDPTestFrames.channelData(F.channel.value, data)
        )
        let counters = try program.counters()
        #expect(counters.packets(RELAY_XDP_UDP_TO_CHANNEL) == 1)
        #expect(counters.bytes(RELAY_XDP_UDP_TO_CHANNEL) == UInt64(data.count))
    }

    /// Firezone #10286: client A's channel is bound to B's relayed address and B's to A's, on this relay; A's
    /// channel data goes to B as channel data at once. The relayed addresses' family is independent of either
    /// client's.
    @Test(arguments: [IPVersion.v4, .v6], [(IPVersion.v4, IPVersion.v4), (.v4, .v6), (.v6, .v4), (.v6, .v6)])
    func channelDataToAnotherAllocationOnThisRelayLoopsBackAsChannelData(
        relayed: IPVersion,
        clients: (IPVersion, IPVersion)
    ) throws {
        let (a, b) = clients
        let program = try F.program()
        let relayedA = PeerSocket(IPSocketAddress(F.publicAddress(relayed), port: F.allocationPort.value))
        let relayedB = PeerSocket(IPSocketAddress(F.publicAddress(relayed), port: F.otherAllocationPort.value))
        try program.insertBinding(client: F.client(a), channel: F.channel, peer: relayedB, port: F.allocationPort)
        try program.insertBinding(
            client: F.otherClient(b),
            channel: F.otherChannel,
            peer: relayedA,
            port: F.otherAllocationPort
        )
        let data = XDPTestFrames.data(3, count: 64)

        let result = try program.testRun(
            XDPTestFrames.udp(
                from: F.client(a).address,
                to: IPSocketAddress(F.relayAddress(a), port: F.listenPort),
                payload: XDPTestFrames.channelData(F.channel.value, data)
            )
        )

        try expectTransmitted(
            result,
            input: a,
            source: F.expectedSource(from: a, to: b),
            destination: F.otherClient(b).address,
            sourcePort: F.listenPort,
            udpPayload: XDPTestFrames.channelData(F.otherChannel.value, data)
        )
        #expect(try program.counters().packets(RELAY_XDP_CHANNEL_TO_CHANNEL) == 1)

        // And back: B's channel data reaches A the same way.
        let back = try program.testRun(
            XDPTestFrames.udp(
                from: F.otherClient(b).address,
                to: IPSocketAddress(F.relayAddress(b), port: F.listenPort),
                payload: XDPTestFrames.channelData(F.otherChannel.value, data)
            )
        )
        try expectTransmitted(
            back,
            input: b,
            source: F.expectedSource(from: b, to: a),
            destination: F.client(a).address,
            sourcePort: F.listenPort,
            udpPayload: XDPTestFrames.channelData(F.channel.value, data)
        )
        #expect(try program.counters().packets(RELAY_XDP_CHANNEL_TO_CHANNEL) == 2)
    }

    /// RFC 768: an IPv4 datagram without a checksum keeps none when it stays IPv4.
    @Test func ipv4WithoutAChecksumStaysWithoutOne() throws {
        let program = try F.program()
        try program.insertBinding(client: F.client(.v4), channel: F.channel, peer: F.peer(.v4), port: F.allocationPort)
        let data = XDPTestFrames.data(4)

        let toPeer = try program.testRun(
            XDPTestFrames.udp(
                from: F.client(.v4).address,
                to: IPSocketAddress(F.relayAddress(.v4), port: F.listenPort),
                payload: XDPTestFrames.channelData(F.channel.value, data),
                zeroChecksum: true
            )
        )
        let toClient = try program.testRun(
            XDPTestFrames.udp(
                from: F.peer(.v4).address,
                to: IPSocketAddress(F.relayAddress(.v4), port: F.allocationPort.value),
                payload: data,
                zeroChecksum: true
            )
        )

        #expect(toPeer.action == .tx)
        #expect(try TransmittedFrame(toPeer.frame).udp.checksum == 0)
        #expect(try TransmittedFrame(toPeer.frame).payload == data)
        #expect(toClient.action == .tx)
        #expect(try TransmittedFrame(toClient.frame).udp.checksum == 0)
        #expect(try TransmittedFrame(toClient.frame).payload == XDPTestFrames.channelData(F.channel.value, data))
    }

    /// Every length of application data from 0 to 64 bytes, so that odd lengths and a checksum that comes out as
    /// zero (sent as 0xFFFF) are covered in each direction.
    @Test(arguments: F.familyPairs)
    func checksumsHoldForEveryShortLength(client: IPVersion, peer: IPVersion) throws {
        let program = try F.program()
        try program.insertBinding(
            client: F.client(client),
            channel: F.channel,
            peer: F.peer(peer),
            port: F.allocationPort
        )
        for length in 0...64 {
            let data = XDPTestFrames.data(UInt8(length), count: length)
            let toPeer = try program.testRun(
                XDPTestFrames.udp(
                    from: F.client(client).address,
                    to: IPSocketAddress(F.relayAddress(client), port: F.listenPort),
                    payload: XDPTestFrames.channelData(F.channel.value, data)
                )
            )
            let toClient = try program.testRun(
                XDPTestFrames.udp(
                    from: F.peer(peer).address,
                    to: IPSocketAddress(F.relayAddress(peer), port: F.allocationPort.value),
                    payload: data
                )
            )
            let outputs = [try TransmittedFrame(toPeer.frame), try TransmittedFrame(toClient.frame)]
            for output in outputs {
                #expect(output.packet.hasValidChecksums, "length \(length)")
                #expect(output.udp.checksum == output.recomputed.udp!.checksum, "length \(length)")
            }
        }
    }

    @Test(arguments: F.familyPairs)
    func deletedBindingsNoLongerRelay(client: IPVersion, peer: IPVersion) throws {
        let program = try F.program()
        try program.insertBinding(
            client: F.client(client),
            channel: F.channel,
            peer: F.peer(peer),
            port: F.allocationPort
        )
        try program.deleteBinding(
            client: F.client(client),
            channel: F.channel,
            peer: F.peer(peer),
            port: F.allocationPort
        )

        let toPeer = try program.testRun(
            XDPTestFrames.udp(
                from: F.client(client).address,
                to: IPSocketAddress(F.relayAddress(client), port: F.listenPort),
                payload: XDPTestFrames.channelData(F.channel.value, [1, 2, 3])
            )
        )
        let toClient = try program.testRun(
            XDPTestFrames.udp(
                from: F.peer(peer).address,
                to: IPSocketAddress(F.relayAddress(peer), port: F.allocationPort.value),
                payload: [1, 2, 3]
            )
        )

        #expect(toPeer.action == .pass)
        #expect(toClient.action == .pass)
        let counters = try program.counters()
        #expect(counters.packets(RELAY_XDP_PASS_NO_CHANNEL_BINDING) == 1)
        #expect(counters.packets(RELAY_XDP_PASS_NO_PEER_BINDING) == 1)
        // Deleting again is not an error: expiry and unbinding may both report it.
        try program.deleteBinding(
            client: F.client(client),
            channel: F.channel,
            peer: F.peer(peer),
            port: F.allocationPort
        )
    }
}
