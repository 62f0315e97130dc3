import FirezoneTime
import IPPacket
import NIOCore
import Testing

/// Addresses and packets for the gateway NAT tests: a client behind the tunnel, proxy IPs from the proxy ranges,
/// real IPs from the documentation ranges (RFC 5737, RFC 3849).
enum NATTestPackets {
    static let clientV4 = IPAddress("100.64.0.7")!
    static let clientV6 = IPAddress("fd00:2021:1111::7")!
    static let proxyV4 = IPAddress("100.96.0.1")!
    static let otherProxyV4 = IPAddress("100.96.0.2")!
    static let proxyV6 = IPAddress("fd00:2021:1111:8000::1")!
    static let realV4 = IPAddress("203.0.113.10")!
    static let otherRealV4 = IPAddress("203.0.113.20")!
    static let realV6 = IPAddress("2001:db8::10")!
    static let routerV4 = IPAddress("198.51.100.1")!
    static let routerV6 = IPAddress("2001:db8:ffff::1")!

    static func client(for destination: IPAddress) -> IPAddress {
        destination.version == .v4 ? Self.clientV4 : Self.clientV6
    }

    static func payload(_ text: String) -> ByteBuffer {
        ByteBuffer(string: text)
    }

    /// A UDP packet from the client's `port` to `destination`:`destinationPort`.
    static func udp(
        from port: UInt16 = 40_000,
        to destination: IPAddress = Self.proxyV4,
        port destinationPort: UInt16 = 53
    ) throws -> IPPacket {
        try IPPacket.makeUDP(
            source: Self.client(for: destination),
            sourcePort: port,
            destination: destination,
            destinationPort: destinationPort,
            payload: Self.payload("query")
        )
    }

    /// A TCP segment from the client's `port` to `destination`:443.
    static func tcp(
        from port: UInt16 = 40_000,
        to destination: IPAddress = Self.proxyV4,
        flags: TCPFlags = [.syn]
    ) throws -> IPPacket {
        try IPPacket.makeTCP(
            source: Self.client(for: destination),
            sourcePort: port,
            destination: destination,
            destinationPort: 443,
            sequenceNumber: 1000,
            acknowledgmentNumber: flags.contains(.ack) ? 1 : 0,
            flags: flags,
            payload: Self.payload("hello")
        )
    }

    /// The resource's reply to an outbound packet as the NAT sent it: addresses and ports swapped.
    static func reply(to sent: IPPacket, flags: TCPFlags = [.ack]) throws -> IPPacket {
        let source = try sent.sourceProtocol()
        let destination = try sent.destinationProtocol()
        switch source {
        case .udp:
            return try IPPacket.makeUDP(
                source: sent.destination,
                sourcePort: destination.value,
                destination: sent.source,
                destinationPort: source.value,
                payload: Self.payload("answer")
            )
        case .tcp:
            return try IPPacket.makeTCP(
                source: sent.destination,
                sourcePort: destination.value,
                destination: sent.source,
                destinationPort: source.value,
                sequenceNumber: 7000,
                acknowledgmentNumber: 1006,
                flags: flags,
                payload: Self.payload("world")
            )
        case .icmpEcho(let identifier):
            return try IPPacket.makeICMPEchoReply(
                source: sent.destination,
                destination: sent.source,
                identifier: identifier,
                sequenceNumber: 1,
                payload: Self.payload("ping")
            )
        }
    }

    /// An ICMP error of `type`, `code` and `restOfHeader` from `router` about `quoted`, quoting as much as an
    /// ICMP error does: the IPv4 header and 8 bytes (RFC 792), or all of an IPv6 packet that fits (RFC 4443).
    static func icmpError(
        type: UInt8,
        code: UInt8,
        restOfHeader: UInt32 = 0,
        from router: IPAddress,
        quoting quoted: IPPacket
    ) throws -> IPPacket {
        let reason: DestinationUnreachableReason = .networkUnreachable
        var error = IPPacket.makeICMPDestinationUnreachable(for: quoted, reason: reason)
        error.setSource(router)
        var buffer = error.intoBuffer()
        let icmp = buffer.readerIndex + (quoted.version == .v4 ? 20 : 40)
        buffer.setInteger(type, at: icmp)
        buffer.setInteger(code, at: icmp + 1)
        buffer.setInteger(restOfHeader, at: icmp + 4)
        var packet = try IPPacket(buffer)
        packet.computeChecksums()
        return packet
    }

    /// `seconds` after the tests' time origin.
    static func at(_ seconds: Int64) -> Instant {
        .zero + .seconds(seconds)
    }

    /// The bytes of `packet`.
    static func bytes(_ packet: IPPacket) -> [UInt8] {
        Array(packet.buffer.readableBytesView)
    }

    /// Checks that the incrementally updated checksums equal a computation from scratch.
    static func expectChecksumsAsComputedAfresh(
        _ packet: IPPacket,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var recomputed = packet
        recomputed.computeChecksums()
        #expect(Self.bytes(packet) == Self.bytes(recomputed), sourceLocation: sourceLocation)
        #expect(packet.hasValidChecksums, sourceLocation: sourceLocation)
    }
}
