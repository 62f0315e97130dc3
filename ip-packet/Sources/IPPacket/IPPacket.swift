import NIOCore

/// An IPv4 or IPv6 packet, validated once on construction and then read and rewritten in place.
///
/// The packet is the readable bytes of `buffer`; nothing is copied when a packet is made from a buffer or when
/// it is rewritten while the buffer is uniquely referenced. Construction checks everything a rewrite or an
/// accessor relies on (as Firezone's rust/connlib/ip-packet does), so accessors do not fail afterwards:
/// - at most ``IPPacketConstants/maximumPacketLength`` bytes, and no fragments;
/// - IPv4: IHL of at least 5 words within the packet, total length equal to the packet length;
/// - IPv6: payload length equal to what follows the fixed header, extension headers within the packet;
/// - UDP: length field equal to the segment length; TCP: data offset of at least 5 words within the segment;
///   ICMP and ICMPv6: the 8-byte header present, and each only in its own IP version;
/// - Firezone's peer-to-peer control packets (``FZP2PControl``): the 8-byte control header present;
/// - any other protocol is carried as opaque payload.
///
/// Checksums are not verified on input, as in Firezone: the kernel checks what we write to the TUN device, and
/// WireGuard authenticates what comes from peers.
public struct IPPacket: Sendable, Hashable {
    /// The packet: `buffer.readableBytes`.
    public internal(set) var buffer: ByteBuffer
    public let version: IPVersion
    /// The upper-layer protocol: IPv4's protocol field, or the next header after IPv6's extension headers.
    public let ipProtocol: IPProtocol
    /// Where the transport header starts, from the start of the packet.
    public let transportOffset: Int

    /// Validates `buffer`'s readable bytes as an IP packet. The buffer is kept, not copied.
    public init(_ buffer: ByteBuffer) throws(IPPacketError) {
        switch buffer.withUnsafeReadableBytes({ Self.validate($0) }) {
        case .valid(let version, let ipProtocol, let transportOffset):
            self.buffer = buffer
            self.version = version
            self.ipProtocol = ipProtocol
            self.transportOffset = transportOffset
        case .invalid(let rejection):
            throw rejection.error(in: buffer)
        }
    }

    /// Gives back the buffer, for reuse once the packet is no longer needed.
    public consuming func intoBuffer() -> ByteBuffer {
        self.buffer
    }

    /// The packet in a buffer of its own, with `headroom` bytes in front and `tailroom` behind: for a packet kept
    /// beyond the call that handed it over, whose storage the caller reuses (a receive buffer the next read
    /// overwrites in place).
    public func copy(headroom: Int = 0, tailroom: Int = 0) -> IPPacket {
        var buffer = ByteBufferAllocator().buffer(capacity: headroom + self.buffer.readableBytes + tailroom)
        buffer.moveWriterIndex(forwardBy: headroom)
        buffer.moveReaderIndex(forwardBy: headroom)
        buffer.writeImmutableBuffer(self.buffer)
        var copy = self
        copy.buffer = buffer
        return copy
    }

    // MARK: IP header
    var base: Int {
        self.buffer.readerIndex
    }

    /// The packet's length in bytes.
    public var length: Int {
        self.buffer.readableBytes
    }
    public var source: IPAddress {
        switch self.version {
        case .v4: .v4(self.ipv4Address(at: IPPacketConstants.ipv4SourceOffset))
        case .v6: .v6(self.ipv6Address(at: IPPacketConstants.ipv6SourceOffset))
        }
    }
    public var destination: IPAddress {
        switch self.version {
        case .v4: .v4(self.ipv4Address(at: IPPacketConstants.ipv4DestinationOffset))
        case .v6: .v6(self.ipv6Address(at: IPPacketConstants.ipv6DestinationOffset))
        }
    }

    /// IPv4's TTL or IPv6's hop limit.
    public var hopLimit: UInt8 {
        self.byte(at: self.version == .v4 ? 8 : 7)
    }

    /// The ECN bits of the IPv4 TOS byte or the IPv6 traffic class.
    public var ecn: ECN {
        switch self.version {
        case .v4: ECN(rawValue: self.byte(at: 1) & 0b11)!
        case .v6: ECN(rawValue: (self.byte(at: 1) >> 4) & 0b11)!
        }
    }

    // MARK: Transport

    /// The transport header and its payload.
    public var transportSegment: ByteBuffer {
        self.buffer.getSlice(at: self.base + self.transportOffset, length: self.length - self.transportOffset)!
    }
    var transportLength: Int {
        self.length - self.transportOffset
    }

    /// The UDP header, if this is a UDP packet.
    public var udp: UDPHeader? {
        self.ipProtocol == .udp ? UDPHeader(segment: self.transportSegment) : nil
    }

    /// The TCP header, if this is a TCP packet.
    public var tcp: TCPHeader? {
        self.ipProtocol == .tcp ? TCPHeader(segment: self.transportSegment) : nil
    }

    /// The ICMP (in IPv4) or ICMPv6 (in IPv6) header, if this is such a packet.
    public var icmp: ICMPHeader? {
        switch (self.version, self.ipProtocol) {
        case (.v4, .icmp), (.v6, .icmpv6): ICMPHeader(version: self.version, segment: self.transportSegment)
        default: nil
        }
    }

    /// The bytes after the transport header: the UDP or TCP payload, the ICMP message body after its first
    /// eight bytes, or everything after the IP headers for other protocols.
    public var payload: ByteBuffer {
        let headerLength: Int
        switch self.ipProtocol {
        case .udp:
            headerLength = IPPacketConstants.udpHeaderLength
        case .tcp:
            headerLength = TCPHeader(segment: self.transportSegment).headerLength
        case .icmp where self.version == .v4, .icmpv6 where self.version == .v6:
            headerLength = IPPacketConstants.icmpHeaderLength
        default:
            headerLength = 0
        }
        let start = self.transportOffset + headerLength
        return self.buffer.getSlice(at: self.base + start, length: self.length - start)!
    }

    /// The source port, or the identifier of an ICMP echo request or reply.
    public func sourceProtocol() throws(IPPacketError) -> TransportProtocol {
        try self.transportProtocol(portOffset: 0)
    }

    /// The destination port, or the identifier of an ICMP echo request or reply.
    public func destinationProtocol() throws(IPPacketError) -> TransportProtocol {
        try self.transportProtocol(portOffset: 2)
    }

    private func transportProtocol(portOffset: Int) throws(IPPacketError) -> TransportProtocol {
        switch self.ipProtocol {
        case .tcp:
            return .tcp(port: self.uint16(at: self.transportOffset + portOffset))
        case .udp:
            return .udp(port: self.uint16(at: self.transportOffset + portOffset))
        default:
            if let icmp = self.icmp, icmp.isEcho {
                return .icmpEcho(identifier: icmp.identifier)
            }
            throw self.error(.noPortOrIdentifier(self.ipProtocol))
        }
    }

    // MARK: Byte access, within the validated packet
    func byte(at offset: Int) -> UInt8 {
        self.buffer.getInteger(at: self.base + offset, as: UInt8.self)!
    }
    func uint16(at offset: Int) -> UInt16 {
        self.buffer.getInteger(at: self.base + offset, as: UInt16.self)!
    }
    func ipv4Address(at offset: Int) -> IPv4Address {
        IPv4Address(rawValue: self.buffer.getInteger(at: self.base + offset, as: UInt32.self)!)
    }
    func ipv6Address(at offset: Int) -> IPv6Address {
        self.buffer.withUnsafeReadableBytes { $0.ipv6Address(at: offset) }
    }
    mutating func setUInt16(_ value: UInt16, at offset: Int) {
        self.buffer.setInteger(value, at: self.base + offset)
    }

    /// An error carrying this packet's addresses and the start of its transport header.
    func error(_ reason: IPPacketError.Reason) -> IPPacketError {
        Self.error(
            reason,
            version: self.version,
            in: self.buffer,
            transportOffset: self.transportOffset,
            ipProtocol: self.ipProtocol
        )
    }
}

// MARK: Validation

extension IPPacket {
    /// What validation found: the packet's layout, or why it is rejected.
    enum Validation {
        case valid(IPVersion, IPProtocol, transportOffset: Int)
        case invalid(Rejection)
    }

    /// A reason to reject bytes and how much of them can be read for the error's context. The error itself is
    /// made from the buffer, outside the loop over its bytes and only for bytes that are rejected.
    struct Rejection {
        enum Context {
            /// Too short or of an unknown version: no addresses to report.
            case none
            /// The fixed header is there, and the transport header's offset if it is known.
            case header(IPVersion, transportOffset: Int?)
            /// The IP headers are valid; the transport header is not.
            case transport(IPVersion, IPProtocol, transportOffset: Int)
        }

        var reason: IPPacketError.Reason
        var context: Context

        init(_ reason: IPPacketError.Reason, _ context: Context = .none) {
            self.reason = reason
            self.context = context
        }

        func error(in buffer: ByteBuffer) -> IPPacketError {
            switch self.context {
            case .none:
                IPPacketError(self.reason)
            case .header(let version, let transportOffset):
                IPPacket.error(self.reason, version: version, in: buffer, transportOffset: transportOffset)
            case .transport(let version, let ipProtocol, let transportOffset):
                IPPacket.error(
                    self.reason,
                    version: version,
                    in: buffer,
                    transportOffset: transportOffset,
                    ipProtocol: ipProtocol
                )
            }
        }
    }

    /// Checks everything the accessors and rewrites rely on (see the type's documentation), reading `bytes` once.
    static func validate(_ bytes: UnsafeRawBufferPointer) -> Validation {
        let length = bytes.count
        guard length > 0 else {
            return .invalid(Rejection(.empty))
        }
        guard length <= IPPacketConstants.maximumPacketLength else {
            return .invalid(Rejection(.tooLong(length: length)))
        }
        let headers: Validation
        switch bytes[0] >> 4 {
        case IPVersion.v4.rawValue:
            headers = Self.validateIPv4Header(bytes)
        case IPVersion.v6.rawValue:
            headers = Self.validateIPv6Header(bytes)
        case let versionNibble:
            return .invalid(Rejection(.unsupportedVersion(versionNibble)))
        }
        guard case .valid(let version, let ipProtocol, let transportOffset) = headers else {
            return headers
        }
        if let reason = Self.validateTransport(bytes, version, ipProtocol, transportOffset: transportOffset) {
            return .invalid(Rejection(reason, .transport(version, ipProtocol, transportOffset: transportOffset)))
        }
        return headers
    }

    /// RFC 791 §3.1.
    private static func validateIPv4Header(_ bytes: UnsafeRawBufferPointer) -> Validation {
        let length = bytes.count
        guard length >= IPPacketConstants.ipv4MinimumHeaderLength else {
            return .invalid(Rejection(.truncatedIPHeader(version: .v4, length: length)))
        }
        let words = bytes[0] & 0x0F
        let headerLength = Int(words) * 4
        guard headerLength >= IPPacketConstants.ipv4MinimumHeaderLength, headerLength <= length else {
            return .invalid(Rejection(.invalidIPv4HeaderLength(words: words), .header(.v4, transportOffset: nil)))
        }
        let totalLength = Int(bytes.bigEndian(at: IPPacketConstants.ipv4TotalLengthOffset, as: UInt16.self))
        guard totalLength == length else {
            return .invalid(
                Rejection(
                    .totalLengthMismatch(declared: totalLength, actual: length),
                    .header(.v4, transportOffset: headerLength)
                )
            )
        }
        // "More fragments" or a non-zero fragment offset; "don't fragment" is fine.
        guard bytes.bigEndian(at: 6, as: UInt16.self) & 0x3FFF == 0 else {
            return .invalid(Rejection(.fragmented, .header(.v4, transportOffset: headerLength)))
        }
        let ipProtocol = IPProtocol(rawValue: bytes[IPPacketConstants.ipv4ProtocolOffset])
        return .valid(.v4, ipProtocol, transportOffset: headerLength)
    }

    /// RFC 8200 §3 and §4: the fixed header, then the extension headers up to the upper-layer header.
    private static func validateIPv6Header(_ bytes: UnsafeRawBufferPointer) -> Validation {
        let length = bytes.count
        guard length >= IPPacketConstants.ipv6HeaderLength else {
            return .invalid(Rejection(.truncatedIPHeader(version: .v6, length: length)))
        }
        let payloadLength = Int(bytes.bigEndian(at: IPPacketConstants.ipv6PayloadLengthOffset, as: UInt16.self))
        guard payloadLength == length - IPPacketConstants.ipv6HeaderLength else {
            let actual = length - IPPacketConstants.ipv6HeaderLength
            let reason = IPPacketError.Reason.payloadLengthMismatch(declared: payloadLength, actual: actual)
            return .invalid(Rejection(reason, .header(.v6, transportOffset: nil)))
        }

        var nextHeader = IPProtocol(rawValue: bytes[IPPacketConstants.ipv6NextHeaderOffset])
        var offset = IPPacketConstants.ipv6HeaderLength
        for _ in 0...IPPacketConstants.maximumIPv6ExtensionHeaders {
            let headerLength: Int
            switch nextHeader {
            case .ipv6HopByHopOptions, .ipv6Routing, .ipv6DestinationOptions:
                guard offset + 1 < length else {
                    return Self.truncated(nextHeader)
                }
                // RFC 8200 §4.3: "Hdr Ext Len: length of the header in 8-octet units, not including the first 8".
                headerLength = (Int(bytes[offset + 1]) + 1) * 8
            case .authenticationHeader:
                guard offset + 1 < length else {
                    return Self.truncated(nextHeader)
                }
                // RFC 4302 §2.2: "Payload Len: the length of AH in 32-bit words, minus 2".
                headerLength = (Int(bytes[offset + 1]) + 2) * 4
            case .ipv6Fragment:
                return .invalid(Rejection(.fragmented, .header(.v6, transportOffset: nil)))
            default:
                return .valid(.v6, nextHeader, transportOffset: offset)
            }
            guard offset + headerLength <= length else {
                return Self.truncated(nextHeader)
            }
            nextHeader = IPProtocol(rawValue: bytes[offset])
            offset += headerLength
        }
        return .invalid(Rejection(.tooManyExtensionHeaders, .header(.v6, transportOffset: nil)))
    }

    private static func truncated(_ extensionHeader: IPProtocol) -> Validation {
        .invalid(Rejection(.truncatedExtensionHeader(extensionHeader), .header(.v6, transportOffset: nil)))
    }

    /// The transport header, once the IP headers are valid; `nil` if it is.
    private static func validateTransport(
        _ bytes: UnsafeRawBufferPointer,
        _ version: IPVersion,
        _ ipProtocol: IPProtocol,
        transportOffset: Int
    ) -> IPPacketError.Reason? {
        let segmentLength = bytes.count - transportOffset
        switch ipProtocol {
        case .udp:
            guard segmentLength >= IPPacketConstants.udpHeaderLength else {
                return .truncatedTransportHeader(ipProtocol, length: segmentLength)
            }
            let declared = Int(bytes.bigEndian(at: transportOffset + 4, as: UInt16.self))
            guard declared == segmentLength else {
                return .udpLengthMismatch(declared: declared, actual: segmentLength)
            }
        case .tcp:
            guard segmentLength >= IPPacketConstants.tcpMinimumHeaderLength else {
                return .truncatedTransportHeader(ipProtocol, length: segmentLength)
            }
            let words = bytes[transportOffset + 12] >> 4
            guard Int(words) * 4 >= IPPacketConstants.tcpMinimumHeaderLength, Int(words) * 4 <= segmentLength else {
                return .invalidTCPDataOffset(words: words, segmentLength: segmentLength)
            }
        case .icmp, .icmpv6:
            guard (ipProtocol == .icmp) == (version == .v4) else {
                return .icmpVersionMismatch(ipProtocol, version)
            }
            guard segmentLength >= IPPacketConstants.icmpHeaderLength else {
                return .truncatedTransportHeader(ipProtocol, length: segmentLength)
            }
        case .firezoneP2PControl where version == .v6:
            // A control packet (``IPPacket/isFZP2PControl``) goes from `::` to `::`: 32 zero bytes from offset 8.
            let addresses =
                bytes.bigEndian(at: 8, as: UInt64.self) | bytes.bigEndian(at: 16, as: UInt64.self)
                | bytes.bigEndian(at: 24, as: UInt64.self) | bytes.bigEndian(at: 32, as: UInt64.self)
            guard addresses != 0 || segmentLength >= FZP2PControl.headerLength else {
                return .truncatedP2PControlHeader(length: segmentLength)
            }
        default:
            break
        }
        return nil
    }

    /// An error with as much context as `buffer` offers: addresses once the fixed header is there, and the
    /// protocol and first bytes of the transport header once its offset is known.
    static func error(
        _ reason: IPPacketError.Reason,
        version: IPVersion,
        in buffer: ByteBuffer,
        transportOffset: Int?,
        ipProtocol: IPProtocol? = nil
    ) -> IPPacketError {
        let base = buffer.readerIndex
        var error = IPPacketError(reason, ipProtocol: ipProtocol)
        switch version {
        case .v4:
            if buffer.readableBytes >= IPPacketConstants.ipv4MinimumHeaderLength {
                error.source = .v4(IPv4Address(rawValue: buffer.getInteger(at: base + 12, as: UInt32.self)!))
                error.destination = .v4(IPv4Address(rawValue: buffer.getInteger(at: base + 16, as: UInt32.self)!))
                error.ipProtocol = IPProtocol(rawValue: buffer.getInteger(at: base + 9, as: UInt8.self)!)
            }
        case .v6:
            if buffer.readableBytes >= IPPacketConstants.ipv6HeaderLength {
                func half(_ offset: Int) -> UInt64 { buffer.getInteger(at: base + offset, as: UInt64.self)! }
                error.source = .v6(IPv6Address(high: half(8), low: half(16)))
                error.destination = .v6(IPv6Address(high: half(24), low: half(32)))
            }
        }
        if let transportOffset, transportOffset <= buffer.readableBytes {
            let length = min(IPPacketConstants.tcpMinimumHeaderLength, buffer.readableBytes - transportOffset)
            error.transportHeader = buffer.getSlice(at: base + transportOffset, length: length)
        }
        return error
    }
}
