import CRelayXDP
import FirezoneTesting
import IPPacket
import RelayCore
import RelayXDP
import Testing

/// What the program leaves to the kernel (XDP_PASS) and what it drops (XDP_DROP), one reason at a time: the
/// verdict, the frame untouched, and the reason's counter.
///
/// Two reasons cannot be produced here: `too_long` needs a frame longer than `BPF_PROG_TEST_RUN`'s one page
/// (tests/integration/relay-xdp.sh produces it on a 64 KiB MTU), and `adjust_head_failed` needs a head adjustment
/// the kernel refuses, which the 256 bytes of XDP headroom rule out for translations that grow by at most 24 bytes
/// (test runs accept at most 32 bytes of metadata, too little to use the headroom up).
@Suite(.enabled(if: PrivilegedTests.enabled, "needs root: loads the XDP program into the kernel"))
struct XDPVerdictTests {
    typealias F = XDPTestFixture

    /// A client's channel data to the listening port, over `family`.
    static func channelData(_ payload: [UInt8], family: IPVersion = .v4, zeroChecksum: Bool = false) throws -> [UInt8] {
        try XDPTestFrames.udp(
            from: F.client(family).address,
            to: IPSocketAddress(F.relayAddress(family), port: F.listenPort),
            payload: payload,
            zeroChecksum: zeroChecksum
        )
    }

    /// A peer's datagram to the allocation port, over `family`.
    static func peerDatagram(family: IPVersion = .v4, zeroChecksum: Bool = false) throws -> [UInt8] {
        try XDPTestFrames.udp(
            from: F.peer(family).address,
            to: IPSocketAddress(F.relayAddress(family), port: F.allocationPort.value),
            payload: XDPTestFrames.data(9),
            zeroChecksum: zeroChecksum
        )
    }

    static func expect(
        _ frame: [UInt8],
        _ action: XDPAction,
        _ reason: relay_xdp_reason,
        program: XDPProgram? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let program = try program ?? F.program()
        let result = try program.testRun(frame)
        #expect(
            result.action == action,
            "\(String(cString: relay_xdp_reason_name(reason)))",
            sourceLocation: sourceLocation
        )
        #expect(result.frame == frame, "the frame is left as it came", sourceLocation: sourceLocation)
        let counters = try program.counters()
        #expect(counters.packets(reason) == 1, sourceLocation: sourceLocation)
        #expect(counters.bytes(reason) == UInt64(frame.count), sourceLocation: sourceLocation)
        #expect(counters.packets.reduce(0, +) == 1, "counted under exactly one reason", sourceLocation: sourceLocation)
        #expect(relay_xdp_reason_action(reason) == action.rawValue, sourceLocation: sourceLocation)
    }

    // MARK: XDP_PASS

    /// In generic mode a GRO or GSO super-packet arrives as one frame longer than the MTU; translated, the kernel
    /// would cut it at the untranslated datagram boundaries. A frame that fits the MTU is judged as usual (here: no
    /// binding).
    @Test(arguments: F.families)
    func framesLongerThanTheMTUAreLeftToTheKernel(family: IPVersion) throws {
        let frame = try Self.peerDatagram(family: family)
        let mtu = frame.count - 14
        try Self.expect(frame, .pass, RELAY_XDP_PASS_COALESCED, program: F.program(interfaceMTU: mtu - 1))
        try Self.expect(frame, .pass, RELAY_XDP_PASS_NO_PEER_BINDING, program: F.program(interfaceMTU: mtu))
    }

    @Test func arpIsNotIP() throws {
        let arp = XDPTestFrames.ethernet(type: 0x0806, [0, 1, 8, 0, 6, 4, 0, 1] + [UInt8](repeating: 0, count: 20))
        try Self.expect(arp, .pass, RELAY_XDP_PASS_NOT_IP)
    }

    @Test(arguments: F.families)
    func otherProtocolsAreNotUDP(family: IPVersion) throws {
        var frame = try Self.channelData(XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4]), family: family)
        // IPv4's protocol, IPv6's next header: ICMP, or a hop-by-hop options header before the UDP header.
        frame[family == .v4 ? 14 + 9 : 14 + 6] = family == .v4 ? 1 : 0
        try Self.expect(frame, .pass, RELAY_XDP_PASS_NOT_UDP)
    }

    @Test func ipv4WithOptionsIsPassed() throws {
        let plain = try Self.channelData(XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4]))
        var ip = Array(plain[14..<34])
        ip[0] = 0x46
        let totalLength = (Int(ip[2]) << 8 | Int(ip[3])) + 4
        ip[2] = UInt8(totalLength >> 8)
        ip[3] = UInt8(totalLength & 0xFF)
        // Four NOP options.
        let frame = Array(plain[0..<14]) + ip + [1, 1, 1, 1] + Array(plain[34...])
        try Self.expect(frame, .pass, RELAY_XDP_PASS_IPV4_WITH_OPTIONS)
    }

    @Test func ipv4FragmentsAreLeftToTheKernel() throws {
        var frame = try Self.channelData(XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4]))
        frame[14 + 6] |= 0x20
        try Self.expect(frame, .pass, RELAY_XDP_PASS_IP_FRAGMENT)
    }

    @Test(arguments: F.families)
    func udpLengthDisagreeingWithTheIPLengthIsMalformed(family: IPVersion) throws {
        var frame = try Self.channelData(XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4]), family: family)
        let udpLength = 14 + (family == .v4 ? 20 : 40) + 4
        frame[udpLength + 1] &+= 2
        try Self.expect(frame, .pass, RELAY_XDP_PASS_MALFORMED)
    }

    @Test(arguments: F.families)
    func aTruncatedPacketIsMalformed(family: IPVersion) throws {
        let frame = try Self.channelData(
            XDPTestFrames.channelData(F.channel.value, XDPTestFrames.data(5)),
            family: family
        )
        try Self.expect(Array(frame.dropLast(10)), .pass, RELAY_XDP_PASS_MALFORMED)
    }

    /// The kernel drops it (and counts it); translated, it would leave with a freshly computed, valid checksum.
    @Test func anIPv4HeaderWithABadChecksumIsLeftToTheKernel() throws {
        let program = try F.program()
        try program.insertBinding(client: F.client(.v4), channel: F.channel, peer: F.peer(.v4), port: F.allocationPort)
        var frame = try Self.channelData(XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4]))
        frame[14 + 11] ^= 0x01
        try Self.expect(frame, .pass, RELAY_XDP_PASS_MALFORMED, program: program)
    }

    @Test func aFrameTooShortForItsIPHeaderIsMalformed() throws {
        let frame = try Self.channelData(XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4]))
        try Self.expect(Array(frame.prefix(14 + 12)), .pass, RELAY_XDP_PASS_MALFORMED)
    }

    /// Answers to the relay's own DNS queries may arrive on a port in the allocation range.
    @Test func dnsAnswersArePassed() throws {
        let frame = try XDPTestFrames.udp(
            from: IPSocketAddress(.v4(IPv4Address(9, 9, 9, 9)), port: 53),
            to: IPSocketAddress(F.relayAddress(.v4), port: F.allocationPort.value),
            payload: XDPTestFrames.data(6)
        )
        try Self.expect(frame, .pass, RELAY_XDP_PASS_DNS)
    }

    @Test func otherPortsAreNotTURN() throws {
        let frame = try XDPTestFrames.udp(
            from: F.client(.v4).address,
            to: IPSocketAddress(F.relayAddress(.v4), port: 8080),
            payload: XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4])
        )
        try Self.expect(frame, .pass, RELAY_XDP_PASS_NOT_TURN_PORT)
    }

    /// A STUN binding request (first two bits 00) and a datagram too short for a channel header.
    @Test(
        arguments: [
            [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42] + [UInt8](repeating: 7, count: 12),
            [0x40, 0x01, 0x00],
        ] as [[UInt8]]
    )
    func stunOnTheListeningPortIsNotChannelData(payload: [UInt8]) throws {
        try Self.expect(try Self.channelData(payload), .pass, RELAY_XDP_PASS_NOT_CHANNEL_DATA)
    }

    /// RFC 8656 §12.5 allows padding after channel data; userspace strips it.
    @Test func paddedChannelDataIsLeftToUserspace() throws {
        let program = try F.program()
        try program.insertBinding(client: F.client(.v4), channel: F.channel, peer: F.peer(.v4), port: F.allocationPort)
        let padded = XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4, 5, 0, 0, 0], declaredLength: 5)
        try Self.expect(try Self.channelData(padded), .pass, RELAY_XDP_PASS_CHANNEL_DATA_PADDED, program: program)
    }

    /// RFC 8200 §8.1: IPv6 requires the UDP checksum, so a datagram without one goes to the kernel as it is.
    @Test func ipv6WithoutAUDPChecksumIsLeftToTheKernel() throws {
        let program = try F.program()
        try program.insertBinding(client: F.client(.v6), channel: F.channel, peer: F.peer(.v6), port: F.allocationPort)
        let frame = try Self.channelData(
            XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4]),
            family: .v6,
            zeroChecksum: true
        )
        try Self.expect(frame, .pass, RELAY_XDP_PASS_UDP_CHECKSUM_MISSING, program: program)
    }

    /// An IPv4 datagram without a checksum cannot become IPv6 without one: userspace computes it.
    @Test func ipv4WithoutAChecksumToIPv6IsLeftToUserspace() throws {
        let toPeer = try F.program()
        try toPeer.insertBinding(client: F.client(.v4), channel: F.channel, peer: F.peer(.v6), port: F.allocationPort)
        let channelData = try Self.channelData(
            XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4]),
            zeroChecksum: true
        )
        try Self.expect(channelData, .pass, RELAY_XDP_PASS_UDP_CHECKSUM_MISSING, program: toPeer)

        let toClient = try F.program()
        try toClient.insertBinding(client: F.client(.v6), channel: F.channel, peer: F.peer(.v4), port: F.allocationPort)
        try Self.expect(
            try Self.peerDatagram(zeroChecksum: true),
            .pass,
            RELAY_XDP_PASS_UDP_CHECKSUM_MISSING,
            program: toClient
        )
    }

    /// The maps may lack a binding the relay holds (an insert failed): userspace must see the traffic.
    @Test(arguments: F.families)
    func channelDataOnAChannelTheMapsLackGoesToUserspace(family: IPVersion) throws {
        let program = try F.program()
        // Bound, but another channel.
        try program.insertBinding(
            client: F.client(family),
            channel: F.otherChannel,
            peer: F.peer(family),
            port: F.allocationPort
        )
        let frame = try Self.channelData(XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4]), family: family)
        try Self.expect(frame, .pass, RELAY_XDP_PASS_NO_CHANNEL_BINDING, program: program)
    }

    /// Also the host's own UDP traffic whose local port falls in the allocation range (a DNS or NTP client's
    /// ephemeral port): the kernel delivers it to its socket.
    @Test(arguments: F.families)
    func datagramsFromAPeerTheMapsLackGoToTheKernel(family: IPVersion) throws {
        try Self.expect(try Self.peerDatagram(family: family), .pass, RELAY_XDP_PASS_NO_PEER_BINDING)
    }

    @Test(arguments: F.families)
    func loopbackWithoutABindingBackGoesToUserspace(relayed: IPVersion) throws {
        let program = try F.program()
        let relayedB = PeerSocket(IPSocketAddress(F.publicAddress(relayed), port: F.otherAllocationPort.value))
        try program.insertBinding(client: F.client(.v4), channel: F.channel, peer: relayedB, port: F.allocationPort)
        let frame = try Self.channelData(XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4]))
        try Self.expect(frame, .pass, RELAY_XDP_PASS_NO_LOOPBACK_BINDING, program: program)
    }

    /// A translation that grows the frame past the interface's MTU (the channel header's 4 bytes, IPv4 to IPv6's
    /// 20) goes to userspace; one that ends exactly at the MTU is relayed. Every family combination, both ways.
    @Test(arguments: F.familyPairs)
    func translationsLongerThanTheMTUGoToUserspace(input: IPVersion, output: IPVersion) throws {
        let payload = XDPTestFrames.data(200)
        let toPeer = try Self.channelData(XDPTestFrames.channelData(F.channel.value, payload), family: input)
        let toClient = try XDPTestFrames.udp(
            from: F.peer(input).address,
            to: IPSocketAddress(F.relayAddress(input), port: F.allocationPort.value),
            payload: payload
        )
        let ipHeader = output == .v4 ? 20 : 40
        // Channel data to UDP: the output is the payload in UDP; UDP to channel data: the payload behind a channel
        // header. The MTU counts from the IP header on.
        let cases: [(frame: [UInt8], client: IPVersion, peer: IPVersion, outputMTU: Int, reason: relay_xdp_reason)] = [
            (toPeer, input, output, ipHeader + 8 + payload.count, RELAY_XDP_CHANNEL_TO_UDP),
            (toClient, output, input, ipHeader + 8 + 4 + payload.count, RELAY_XDP_UDP_TO_CHANNEL),
        ]
        for test in cases {
            for (mtu, fits) in [(test.outputMTU, true), (test.outputMTU - 1, false)] {
                // A translation that shrinks the frame (IPv6 to IPv4) cannot exceed an MTU its input fits.
                guard mtu >= test.frame.count - 14 else {
                    continue
                }
                let program = try F.program(interfaceMTU: mtu)
                try program.insertBinding(
                    client: F.client(test.client),
                    channel: F.channel,
                    peer: F.peer(test.peer),
                    port: F.allocationPort
                )
                let result = try program.testRun(test.frame)
                let counters = try program.counters()
                if fits {
                    #expect(result.action == .tx, "MTU \(mtu): \(input) → \(output)")
                    #expect(counters.packets(test.reason) == 1)
                } else {
                    #expect(result.action == .pass, "MTU \(mtu): \(input) → \(output)")
                    #expect(result.frame == test.frame, "the frame is left as it came")
                    #expect(counters.packets(RELAY_XDP_PASS_EXCEEDS_MTU) == 1)
                }
            }
        }
    }

    // MARK: XDP_DROP

    @Test func channelDataLongerThanItsDatagramIsDropped() throws {
        let program = try F.program()
        try program.insertBinding(client: F.client(.v4), channel: F.channel, peer: F.peer(.v4), port: F.allocationPort)
        let frame = try Self.channelData(XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4], declaredLength: 5))
        try Self.expect(frame, .drop, RELAY_XDP_DROP_BAD_CHANNEL_DATA_LENGTH, program: program)
    }

    /// A relay without an interface address of the peer's family cannot send to it.
    @Test(arguments: F.families)
    func translatingIntoAFamilyWithoutAnInterfaceAddressIsDropped(missing: IPVersion) throws {
        let program = try F.program(interfaceIPv4: missing != .v4, interfaceIPv6: missing != .v6)
        let client = missing == .v4 ? IPVersion.v6 : .v4
        try program.insertBinding(
            client: F.client(client),
            channel: F.channel,
            peer: F.peer(missing),
            port: F.allocationPort
        )
        let frame = try Self.channelData(XDPTestFrames.channelData(F.channel.value, [1, 2, 3, 4]), family: client)
        try Self.expect(frame, .drop, RELAY_XDP_DROP_ADDRESS_UNSET, program: program)
    }
}
