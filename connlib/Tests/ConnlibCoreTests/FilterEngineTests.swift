import ConnlibCore
import IPPacket
import NIOCore
import PortalMessages
import Testing

@Suite struct FilterEngineTests {
    static let client = IPAddress.v4(IPv4Address(100, 64, 0, 9))
    static let resource = IPAddress.v4(IPv4Address(10, 0, 0, 5))

    static func tcp(to port: UInt16) throws -> IPPacket {
        try IPPacket.makeTCP(
            source: Self.client,
            sourcePort: 40000,
            destination: Self.resource,
            destinationPort: port,
            sequenceNumber: 1,
            flags: .syn
        )
    }

    static func udp(to port: UInt16) throws -> IPPacket {
        try IPPacket.makeUDP(
            source: Self.client,
            sourcePort: 40000,
            destination: Self.resource,
            destinationPort: port,
            payload: ByteBuffer()
        )
    }

    static func ping() throws -> IPPacket {
        try IPPacket.makeICMPEchoRequest(
            source: Self.client,
            destination: Self.resource,
            identifier: 7,
            sequenceNumber: 1
        )
    }

    @Test func noFiltersPermitEveryProtocolAndPort() throws {
        let engine = FilterEngine([])
        #expect(engine.permits(try Self.tcp(to: 22)))
        #expect(engine.permits(try Self.udp(to: 53)))
        #expect(engine.permits(try Self.ping()))
        // Not even a port: still permitted when the resource has no filters.
        let unreachable = IPPacket.makeICMPDestinationUnreachable(for: try Self.udp(to: 9), reason: .networkUnreachable)
        #expect(engine.permits(unreachable))
    }

    @Test func tcpFilterPermitsOnlyItsPortRangeAndOnlyTCP() throws {
        let engine = FilterEngine([.tcp(ports: 80...443)])
        #expect(engine.permits(try Self.tcp(to: 80)))
        #expect(engine.permits(try Self.tcp(to: 443)))
        #expect(!engine.permits(try Self.tcp(to: 79)))
        #expect(!engine.permits(try Self.tcp(to: 444)))
        #expect(!engine.permits(try Self.udp(to: 443)))
        #expect(!engine.permits(try Self.ping()))
    }

    @Test func udpFilterWithoutRangeCoversEveryPort() throws {
        let engine = FilterEngine([.udp(ports: nil)])
        #expect(engine.permits(try Self.udp(to: 0)))
        #expect(engine.permits(try Self.udp(to: 65535)))
        #expect(!engine.permits(try Self.tcp(to: 53)))
    }

    @Test func icmpFilterPermitsEchoesButNoOtherICMP() throws {
        let engine = FilterEngine([.icmp])
        #expect(engine.permits(try Self.ping()))
        #expect(engine.permits(.icmpEcho(identifier: 1)))
        let unreachable = IPPacket.makeICMPDestinationUnreachable(for: try Self.udp(to: 9), reason: .networkUnreachable)
        #expect(!engine.permits(unreachable))
        #expect(!engine.permits(try Self.tcp(to: 1)))
    }

    @Test func overlappingAndAdjacentRangesAreUnited() {
        let engine = FilterEngine([
            .tcp(ports: 100...200), .tcp(ports: 120...130), .tcp(ports: 150...300), .tcp(ports: 301...301),
            .tcp(ports: 0...0),
        ])
        for port: UInt16 in [0, 100, 140, 200, 250, 300, 301] {
            #expect(engine.permits(.tcp(port: port)), "tcp/\(port)")
        }
        for port: UInt16 in [1, 99, 302, 65535] {
            #expect(!engine.permits(.tcp(port: port)), "tcp/\(port)")
        }
    }

    @Test func aMergedEnginePermitsWhatAnyOfItsEnginesPermits() {
        let merged = FilterEngine(merging: [
            FilterEngine([.tcp(ports: 80...80), .udp(ports: 53...53)]),
            FilterEngine([.tcp(ports: 81...90), .icmp]),
        ])
        for allowed: TransportProtocol in [.tcp(port: 80), .tcp(port: 85), .udp(port: 53), .icmpEcho(identifier: 1)] {
            #expect(merged.permits(allowed), "\(allowed)")
        }
        for refused: TransportProtocol in [.tcp(port: 79), .tcp(port: 91), .udp(port: 80), .udp(port: 54)] {
            #expect(!merged.permits(refused), "\(refused)")
        }
        #expect(merged != .permitAll)
    }

    @Test func aMergedEngineWithOneUnfilteredEnginePermitsEverything() {
        let merged = FilterEngine(merging: [FilterEngine([.tcp(ports: 80...80)]), .permitAll, FilterEngine([.icmp])])
        #expect(merged == .permitAll)
    }

    @Test func mergingNoEnginesPermitsNothing() {
        let merged = FilterEngine(merging: [])
        #expect(!merged.permits(.tcp(port: 80)) && !merged.permits(.udp(port: 53)))
        #expect(!merged.permits(.icmpEcho(identifier: 0)))
    }

    @Test func portalFiltersDecodeIntoTheEngine() throws {
        let filters = try PortalCodec.decodeJSON(
            [Filter].self,
            from: #"[{"protocol":"tcp","port_range_start":8080},{"protocol":"icmp"}]"#
        )
        let engine = FilterEngine(filters)
        #expect(engine.permits(.tcp(port: 65535)))
        #expect(!engine.permits(.tcp(port: 8079)))
        #expect(engine.permits(.icmpEcho(identifier: 0)))
        #expect(!engine.permits(.udp(port: 8080)))
    }
}
