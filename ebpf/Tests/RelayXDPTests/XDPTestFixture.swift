import CRelayXDP
import IPPacket
import RelayCore
import RelayXDP
import STUN
import Testing

/// A relay behind 1:1 NAT, as on a cloud host: public addresses that peers see, interface addresses the packets
/// carry, and a second address per family on the interface that clients send to, so that "from the address the
/// client used" and "from the interface's address" differ in every check.
enum XDPTestFixture {
    static let listenPort: UInt16 = 3478
    static let allocationPorts: ClosedRange<UInt16> = 49152...65535

    static let publicIPv4 = IPv4Address(203, 0, 113, 1)
    static let publicIPv6 = IPv6Address("2001:db8::1")!
    static let interfaceIPv4 = IPv4Address(10, 0, 0, 1)
    static let interfaceIPv6 = IPv6Address("fd00::1")!
    static let secondaryIPv4 = IPv4Address(10, 0, 0, 7)
    static let secondaryIPv6 = IPv6Address("fd00::7")!

    static let allocationPort = AllocationPort(50_000)
    static let otherAllocationPort = AllocationPort(60_001)
    static let channel = ChannelNumber(0x4001)
    static let otherChannel = ChannelNumber(0x7FFF)

    static func client(_ family: IPVersion) -> ClientSocket {
        switch family {
        case .v4: ClientSocket(IPSocketAddress(.v4(IPv4Address(192, 0, 2, 10)), port: 40_000))
        case .v6: ClientSocket(IPSocketAddress(.v6(IPv6Address("2001:db8:c::10")!), port: 40_001))
        }
    }

    static func otherClient(_ family: IPVersion) -> ClientSocket {
        switch family {
        case .v4: ClientSocket(IPSocketAddress(.v4(IPv4Address(192, 0, 2, 99)), port: 45_000))
        case .v6: ClientSocket(IPSocketAddress(.v6(IPv6Address("2001:db8:c::99")!), port: 45_001))
        }
    }

    static func peer(_ family: IPVersion) -> PeerSocket {
        switch family {
        case .v4: PeerSocket(IPSocketAddress(.v4(IPv4Address(198, 51, 100, 20)), port: 51_000))
        case .v6: PeerSocket(IPSocketAddress(.v6(IPv6Address("2001:db8:e::20")!), port: 51_001))
        }
    }

    static func publicAddress(_ family: IPVersion) -> IPAddress {
        family == .v4 ? .v4(Self.publicIPv4) : .v6(Self.publicIPv6)
    }

    static func interfaceAddress(_ family: IPVersion) -> IPAddress {
        family == .v4 ? .v4(Self.interfaceIPv4) : .v6(Self.interfaceIPv6)
    }

    /// Where clients and peers send to.
    static func relayAddress(_ family: IPVersion) -> IPAddress {
        family == .v4 ? .v4(Self.secondaryIPv4) : .v6(Self.secondaryIPv6)
    }

    /// The source of a translated packet: the address the input was sent to while the family stays, the
    /// interface's address of the new family when it changes.
    static func expectedSource(from input: IPVersion, to output: IPVersion) -> IPAddress {
        input == output ? Self.relayAddress(output) : Self.interfaceAddress(output)
    }

    static func program(
        interfaceIPv4: Bool = true,
        interfaceIPv6: Bool = true,
        interfaceMTU: Int? = nil
    ) throws -> XDPProgram {
        try XDPProgram(
            configuration: XDPConfiguration(
                publicIPv4: Self.publicIPv4,
                publicIPv6: Self.publicIPv6,
                interfaceIPv4: interfaceIPv4 ? Self.interfaceIPv4 : nil,
                interfaceIPv6: interfaceIPv6 ? Self.interfaceIPv6 : nil,
                listenPort: Self.listenPort,
                allocationPorts: Self.allocationPorts,
                interfaceMTU: interfaceMTU
            )
        )
    }

    static let families: [IPVersion] = [.v4, .v6]
    static let familyPairs: [(IPVersion, IPVersion)] = [(.v4, .v4), (.v4, .v6), (.v6, .v4), (.v6, .v6)]
}

/// Checks a transmitted frame field by field; `input` is the family the program received.
func expectTransmitted(
    _ result: XDPTestRunResult,
    input: IPVersion,
    source: IPAddress,
    destination: IPSocketAddress,
    sourcePort: UInt16,
    udpPayload: [UInt8],
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    #expect(result.action == .tx, sourceLocation: sourceLocation)
    let frame = try TransmittedFrame(result.frame)
    let output = destination.address.version
    #expect(
        frame.destinationMAC == XDPTestFrames.clientMAC,
        "back to the hop it came from",
        sourceLocation: sourceLocation
    )
    #expect(frame.sourceMAC == XDPTestFrames.relayMAC, sourceLocation: sourceLocation)
    #expect(
        frame.etherType == (output == .v4 ? XDPTestFrames.etherTypeIPv4 : XDPTestFrames.etherTypeIPv6),
        sourceLocation: sourceLocation
    )
    #expect(frame.packet.version == output, sourceLocation: sourceLocation)
    #expect(frame.packet.ipProtocol == .udp, sourceLocation: sourceLocation)
    #expect(frame.packet.source == source, sourceLocation: sourceLocation)
    #expect(frame.packet.destination == destination.address, sourceLocation: sourceLocation)
    #expect(frame.packet.hopLimit == XDPTestFrames.hopLimit, sourceLocation: sourceLocation)
    #expect(frame.trafficClass == XDPTestFrames.trafficClass, sourceLocation: sourceLocation)
    switch (input, output) {
    case (.v4, .v4):
        #expect(
            frame.ipv4IdentificationAndFlags == (XDPTestFrames.ipv4Identification, 0x4000),
            sourceLocation: sourceLocation
        )
    case (.v6, .v4):
        #expect(frame.ipv4IdentificationAndFlags == (0, 0x4000), sourceLocation: sourceLocation)
    case (.v6, .v6):
        #expect(frame.ipv6FlowLabel == XDPTestFrames.ipv6FlowLabel, sourceLocation: sourceLocation)
    case (.v4, .v6):
        #expect(frame.ipv6FlowLabel == 0, sourceLocation: sourceLocation)
    }
    #expect(frame.udp.sourcePort == sourcePort, sourceLocation: sourceLocation)
    #expect(frame.udp.destinationPort == destination.port, sourceLocation: sourceLocation)
    #expect(Int(frame.udp.length) == 8 + udpPayload.count, sourceLocation: sourceLocation)
    #expect(frame.payload == udpPayload, sourceLocation: sourceLocation)
    #expect(frame.packet.hasValidChecksums, sourceLocation: sourceLocation)
    #expect(
        Array(frame.packet.buffer.readableBytesView) == Array(frame.recomputed.buffer.readableBytesView),
        "checksums equal to ones computed from scratch",
        sourceLocation: sourceLocation
    )
}
