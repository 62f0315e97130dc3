// The ip-packet hot path: what a gateway does to every tunnel packet. Each iteration parses a 1280-byte
// packet (the Firezone MTU) into an `IPPacket` without copying, rewrites its source and destination address
// and port with incremental checksum updates, and takes the buffer back for the next packet.
//
// The buffer is moved into the packet with `consume` and moved back out with `intoBuffer()`, so it stays
// uniquely referenced and the rewrites happen in place. Nothing on this path may allocate:
// `check-allocations.sh` fails if `mallocCountTotal` is above zero in any sample of a benchmark whose name
// starts with "ip-packet", and also if the "canary" benchmark, which allocates on purpose, shows no
// allocation: then the malloc counter itself is not working and a zero would prove nothing.

import Benchmark
import IPPacket
import NIOCore

/// One packet of each kind the gateway rewrites, 1280 bytes long.
enum PacketKind: String, CaseIterable {
    case ipv4TCP = "IPv4 TCP"
    case ipv4UDP = "IPv4 UDP"
    case ipv6TCP = "IPv6 TCP"
    case ipv6UDP = "IPv6 UDP"

    var isIPv4: Bool { self == .ipv4TCP || self == .ipv4UDP }

    /// The packet's bytes, as a client would send them through the tunnel.
    func makeBytes() -> [UInt8] {
        let (source, destination) =
            self.isIPv4
            ? (IPAddress("100.64.0.7")!, IPAddress("100.96.0.3")!)
            : (IPAddress("fd00:2021:1111::7")!, IPAddress("fd00:2021:1111:8000::3")!)
        let ipHeader = self.isIPv4 ? IPPacketConstants.ipv4MinimumHeaderLength : IPPacketConstants.ipv6HeaderLength
        let packet: IPPacket
        do {
            switch self {
            case .ipv4TCP, .ipv6TCP:
                let payload = Self.payload(IPPacketConstants.maximumPacketLength - ipHeader - 20)
                packet = try IPPacket.makeTCP(
                    source: source,
                    sourcePort: 51_820,
                    destination: destination,
                    destinationPort: 443,
                    sequenceNumber: 0x1234_5678,
                    acknowledgmentNumber: 0x9ABC_DEF0,
                    flags: [.ack, .psh],
                    window: 502,
                    payload: payload
                )
            case .ipv4UDP, .ipv6UDP:
                let payload = Self.payload(IPPacketConstants.maximumPacketLength - ipHeader - 8)
                packet = try IPPacket.makeUDP(
                    source: source,
                    sourcePort: 51_820,
                    destination: destination,
                    destinationPort: 53,
                    payload: payload
                )
            }
        } catch {
            fatalError("cannot build the \(self.rawValue) packet: \(error)")
        }
        precondition(
            packet.length == IPPacketConstants.maximumPacketLength,
            "\(self.rawValue) is \(packet.length) bytes"
        )
        precondition(packet.hasValidChecksums, "\(self.rawValue) has invalid checksums")
        return Array(packet.buffer.readableBytesView)
    }

    /// Two NAT mappings per side, used alternately so that every rewrite changes the packet and the packet's
    /// state stays bounded however many iterations run.
    var sourceMappings: (NATMapping, NATMapping) {
        self.isIPv4
            ? (NATMapping("203.0.113.10", 40_001), NATMapping("203.0.113.11", 40_002))
            : (NATMapping("2001:db8::10", 40_001), NATMapping("2001:db8::11", 40_002))
    }
    var destinationMappings: (NATMapping, NATMapping) {
        self.isIPv4
            ? (NATMapping("10.0.0.1", 8443), NATMapping("10.0.0.2", 8444))
            : (NATMapping("fd00::1", 8443), NATMapping("fd00::2", 8444))
    }

    private static func payload(_ count: Int) -> ByteBuffer {
        var payload = ByteBuffer()
        for index in 0..<count {
            payload.writeInteger(UInt8(truncatingIfNeeded: index &* 31 &+ 7))
        }
        return payload
    }
}

/// A NAT mapping: an address and a port. Plain values, so reading them in the loop neither retains nor allocates.
struct NATMapping {
    var address: IPAddress
    var port: UInt16

    init(_ address: String, _ port: UInt16) {
        self.address = IPAddress(address)!
        self.port = port
    }
}

let benchmarks: @Sendable () -> Void = {
    // Time per packet in nanoseconds and the allocation count; `.kilo`: 1,000 packets per sample.
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(1),
        maxIterations: 10_000
    )

    for kind in PacketKind.allCases {
        let bytes = kind.makeBytes()
        let (sourceA, sourceB) = kind.sourceMappings
        let (destinationA, destinationB) = kind.destinationMappings

        Benchmark("ip-packet parse + NAT rewrite \(kind.rawValue) 1280 B", configuration: configuration) { benchmark in
            // A buffer of this sample's own, so that it is uniquely referenced; made before the measurement.
            var buffer = ByteBuffer(bytes: bytes)
            benchmark.startMeasurement()
            for iteration in benchmark.scaledIterations {
                let even = iteration & 1 == 0
                var packet = try IPPacket(consume buffer)
                let source = even ? sourceA : sourceB
                let destination = even ? destinationA : destinationB
                try packet.translateSource(to: source.address, port: source.port)
                try packet.translateDestination(to: destination.address, port: destination.port)
                buffer = packet.intoBuffer()
            }
            blackHole(buffer)
            benchmark.stopMeasurement()

            // Outside the measurement: the last rewrite took place and kept the checksums right.
            let packet = try IPPacket(buffer)
            let last = benchmark.scaledIterations.last! & 1 == 0 ? (sourceA, destinationA) : (sourceB, destinationB)
            precondition(
                packet.source == last.0.address && packet.destination == last.1.address
                    && (try? packet.sourceProtocol().value) == last.0.port
                    && (try? packet.destinationProtocol().value) == last.1.port,
                "NAT rewrite of \(kind.rawValue) did not take place"
            )
            precondition(packet.hasValidChecksums, "NAT rewrite broke the checksums of \(kind.rawValue)")
        }
    }

    for kind in [PacketKind.ipv4TCP, .ipv6UDP] {
        let bytes = kind.makeBytes()
        Benchmark("ip-packet parse only \(kind.rawValue) 1280 B", configuration: configuration) { benchmark in
            var buffer = ByteBuffer(bytes: bytes)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let packet = try IPPacket(consume buffer)
                blackHole(packet.ipProtocol)
                buffer = packet.intoBuffer()
            }
            blackHole(buffer)
            benchmark.stopMeasurement()
        }
    }

    // The client drops multicast and the gateway keeps the Internet resource off special-purpose blocks for every
    // packet: classifying an address must neither allocate nor cost more than a few comparisons.
    let classified: [IPAddress] = [
        "8.8.8.8", "10.1.2.3", "100.64.0.7", "224.0.0.251", "255.255.255.255", "2606:4700::1111", "fd00::1",
        "ff02::fb", "::ffff:10.0.0.1", "2001:db8::1",
    ].map { IPAddress($0)! }
    Benchmark("ip-packet special-purpose classification", configuration: configuration) { benchmark in
        var count = 0
        benchmark.startMeasurement()
        for iteration in benchmark.scaledIterations {
            if SpecialPurposeAddress(classified[iteration % classified.count]) != nil {
                count += 1
            }
        }
        blackHole(count)
        benchmark.stopMeasurement()
    }

    // Not a hot path: proves that the malloc counter sees allocations in this build (one per iteration).
    Benchmark(
        "canary: allocates on purpose",
        configuration: .init(
            metrics: configuration.metrics,
            timeUnits: .nanoseconds,
            scalingFactor: .kilo,
            maxDuration: .milliseconds(200),
            maxIterations: 1_000
        )
    ) { benchmark in
        for iteration in benchmark.scaledIterations {
            blackHole([UInt8](repeating: UInt8(truncatingIfNeeded: iteration), count: 64))
        }
    }
}
