import NIOCore

/// An ICMP or ICMPv6 error message that quotes a packet which could not be delivered.
public enum ICMPError: Hashable, Sendable {
    /// ICMPv4 type 3 (RFC 792).
    case v4Unreachable(code: UInt8)
    /// ICMPv4 type 11 (RFC 792).
    case v4TimeExceeded(code: UInt8)
    /// ICMPv6 type 1 (RFC 4443 §3.1).
    case v6Unreachable(code: UInt8)
    /// ICMPv6 type 2 (RFC 4443 §3.2), with the MTU of the next-hop link.
    case v6PacketTooBig(mtu: UInt32)
    /// ICMPv6 type 3 (RFC 4443 §3.3).
    case v6TimeExceeded(code: UInt8)
}

/// The packet an ICMP error quotes: its IP header and as much of the rest as the error carried (at least 8 bytes
/// in ICMPv4, up to the minimum MTU in ICMPv6). It is not a valid ``IPPacket``: its length fields describe the
/// original, not the quote.
public struct FailedPacket: Hashable, Sendable {
    /// The quoted bytes.
    public var packet: ByteBuffer
    public var version: IPVersion
    public var source: IPAddress
    public var destination: IPAddress
    public var ipProtocol: IPProtocol
    /// Where the quoted transport header starts, within `packet`.
    public var transportOffset: Int
    /// The original source port or ICMP echo identifier, when the quote is long enough to hold it.
    public var sourceProtocol: TransportProtocol?
    /// The original destination port or ICMP echo identifier, when the quote is long enough to hold it.
    public var destinationProtocol: TransportProtocol?
}

extension IPPacket {
    /// The error and the packet it quotes, if this is an ICMP destination unreachable, time exceeded or (ICMPv6)
    /// packet too big message; `nil` for any other packet. Throws if the quoted packet is unreadable.
    public func icmpError() throws(IPPacketError) -> (ICMPError, FailedPacket)? {
        guard let icmp = self.icmp else {
            return nil
        }
        let error: ICMPError
        switch (self.version, icmp.type) {
        case (.v4, ICMPHeader.v4DestinationUnreachable): error = .v4Unreachable(code: icmp.code)
        case (.v4, ICMPHeader.v4TimeExceeded): error = .v4TimeExceeded(code: icmp.code)
        case (.v6, ICMPHeader.v6DestinationUnreachable): error = .v6Unreachable(code: icmp.code)
        case (.v6, ICMPHeader.v6PacketTooBig): error = .v6PacketTooBig(mtu: icmp.restOfHeader)
        case (.v6, ICMPHeader.v6TimeExceeded): error = .v6TimeExceeded(code: icmp.code)
        default: return nil
        }
        return (error, try self.quotedPacket())
    }

    private func quotedPacket() throws(IPPacketError) -> FailedPacket {
        let quote = self.payload
        let base = quote.readerIndex
        let length = quote.readableBytes
        guard let first = quote.getInteger(at: base, as: UInt8.self) else {
            throw self.error(.truncatedEmbeddedHeader(length: 0))
        }
        guard first >> 4 == self.version.rawValue else {
            throw self.error(.embeddedVersionMismatch(first >> 4))
        }

        let source: IPAddress
        let destination: IPAddress
        let ipProtocol: IPProtocol
        let transportOffset: Int
        switch self.version {
        case .v4:
            let headerLength = Int(first & 0x0F) * 4
            guard length >= IPPacketConstants.ipv4MinimumHeaderLength else {
                throw self.error(.truncatedEmbeddedHeader(length: length))
            }
            guard headerLength >= IPPacketConstants.ipv4MinimumHeaderLength, headerLength <= length else {
                throw self.error(.invalidIPv4HeaderLength(words: first & 0x0F))
            }
            source = .v4(IPv4Address(rawValue: quote.getInteger(at: base + 12, as: UInt32.self)!))
            destination = .v4(IPv4Address(rawValue: quote.getInteger(at: base + 16, as: UInt32.self)!))
            ipProtocol = IPProtocol(rawValue: quote.getInteger(at: base + 9, as: UInt8.self)!)
            transportOffset = headerLength
        case .v6:
            guard length >= IPPacketConstants.ipv6HeaderLength else {
                throw self.error(.truncatedEmbeddedHeader(length: length))
            }
            func half(_ offset: Int) -> UInt64 { quote.getInteger(at: base + offset, as: UInt64.self)! }
            source = .v6(IPv6Address(high: half(8), low: half(16)))
            destination = .v6(IPv6Address(high: half(24), low: half(32)))
            ipProtocol = IPProtocol(rawValue: quote.getInteger(at: base + 6, as: UInt8.self)!)
            transportOffset = IPPacketConstants.ipv6HeaderLength
        }

        var failed = FailedPacket(
            packet: quote,
            version: self.version,
            source: source,
            destination: destination,
            ipProtocol: ipProtocol,
            transportOffset: transportOffset
        )
        let transport = base + transportOffset
        let quotedTransport = quote.getSlice(at: transport, length: length - transportOffset)!
        switch ipProtocol {
        case .tcp:
            if quotedTransport.readableBytes >= 4 {
                failed.sourceProtocol = .tcp(port: quote.getInteger(at: transport, as: UInt16.self)!)
                failed.destinationProtocol = .tcp(port: quote.getInteger(at: transport + 2, as: UInt16.self)!)
            }
        case .udp:
            if quotedTransport.readableBytes >= 4 {
                failed.sourceProtocol = .udp(port: quote.getInteger(at: transport, as: UInt16.self)!)
                failed.destinationProtocol = .udp(port: quote.getInteger(at: transport + 2, as: UInt16.self)!)
            }
        case .icmp where self.version == .v4, .icmpv6 where self.version == .v6:
            if quotedTransport.readableBytes >= IPPacketConstants.icmpHeaderLength {
                let echo = ICMPHeader(version: self.version, segment: quotedTransport)
                if echo.isEcho {
                    failed.sourceProtocol = .icmpEcho(identifier: echo.identifier)
                    failed.destinationProtocol = .icmpEcho(identifier: echo.identifier)
                }
            }
        default:
            break
        }
        return failed
    }
}
