import IPPacket

// An independent, deliberately plain model of what ip-packet should do, written from the RFCs and the documented
// rules of `IPPacket` (not from its code): which byte strings are packets, where their fields are, what their
// checksums are and what an ICMP error quotes. The harness compares the library with it.

enum Reference {
    /// Where the parts of a valid packet are.
    struct Layout: Equatable {
        var version: IPVersion
        /// The upper-layer protocol: IPv4's protocol, or the next header after IPv6's extension headers.
        var ipProtocol: UInt8
        var transportOffset: Int
    }

    // MARK: Validation

    /// The layout of `bytes` if `IPPacket` must accept them, `nil` if it must reject them (see `IPPacket.init`).
    ///
    /// `rewritten`: also accept a Firezone control packet shorter than its 8-byte header. Construction rejects
    /// one, but a rewrite of both addresses of a short protocol-0xFF packet to `::` makes one (see
    /// `isShortP2PControl`); the library must then still hold and read it safely.
    static func layout(_ bytes: [UInt8], rewritten: Bool = false) -> Layout? {
        let count = bytes.count
        guard count >= 1, count <= IPPacketConstants.maximumPacketLength else {
            return nil
        }
        let layout: Layout
        switch bytes[0] >> 4 {
        case 4:
            guard count >= 20 else {
                return nil
            }
            let headerLength = Int(bytes[0] & 0x0F) * 4
            guard headerLength >= 20, headerLength <= count else {
                return nil
            }
            guard Int(uint16(bytes, 2)) == count else {
                return nil
            }
            // MF set or a fragment offset: a fragment. DF (0x4000) is fine, so is the reserved bit.
            guard uint16(bytes, 6) & 0x3FFF == 0 else {
                return nil
            }
            layout = Layout(version: .v4, ipProtocol: bytes[9], transportOffset: headerLength)
        case 6:
            guard count >= 40, Int(uint16(bytes, 4)) == count - 40 else {
                return nil
            }
            var nextHeader = bytes[6]
            var offset = 40
            var extensionHeaders = 0
            while true {
                let length: Int
                switch nextHeader {
                case 0, 43, 60:  // hop-by-hop, routing, destination options: (Hdr Ext Len + 1) * 8
                    guard offset + 1 < count else {
                        return nil
                    }
                    length = (Int(bytes[offset + 1]) + 1) * 8
                case 51:  // authentication header: (Payload Len + 2) * 4
                    guard offset + 1 < count else {
                        return nil
                    }
                    length = (Int(bytes[offset + 1]) + 2) * 4
                case 44:  // fragment
                    return nil
                default:
                    length = -1
                }
                if length < 0 {
                    break
                }
                extensionHeaders += 1
                guard extensionHeaders <= IPPacketConstants.maximumIPv6ExtensionHeaders, offset + length <= count else {
                    return nil
                }
                nextHeader = bytes[offset]
                offset += length
            }
            layout = Layout(version: .v6, ipProtocol: nextHeader, transportOffset: offset)
        default:
            return nil
        }

        let offset = layout.transportOffset
        let segment = count - offset
        switch layout.ipProtocol {
        case 17:
            guard segment >= 8, Int(uint16(bytes, offset + 4)) == segment else {
                return nil
            }
        case 6:
            guard segment >= 20 else {
                return nil
            }
            let headerLength = Int(bytes[offset + 12] >> 4) * 4
            guard headerLength >= 20, headerLength <= segment else {
                return nil
            }
        case 1, 58:
            guard (layout.ipProtocol == 1) == (layout.version == .v4), segment >= 8 else {
                return nil
            }
        case 255 where isP2PControl(bytes, layout) && !rewritten:
            guard segment >= 8 else {
                return nil
            }
        default:
            break
        }
        return layout
    }

    static func isP2PControl(_ bytes: [UInt8], _ layout: Layout) -> Bool {
        layout.version == .v6 && layout.ipProtocol == 255 && bytes[8..<40].allSatisfy { $0 == 0 }
    }

    /// A control packet too short for its header: only a rewrite makes one, and it does not parse again.
    static func isShortP2PControl(_ bytes: [UInt8], _ layout: Layout) -> Bool {
        isP2PControl(bytes, layout) && bytes.count - layout.transportOffset < 8
    }

    static func isICMP(_ layout: Layout) -> Bool {
        (layout.version == .v4 && layout.ipProtocol == 1) || (layout.version == .v6 && layout.ipProtocol == 58)
    }

    static func isICMPEcho(version: IPVersion, type: UInt8) -> Bool {
        switch version {
        case .v4: type == 0 || type == 8
        case .v6: type == 128 || type == 129
        }
    }

    // MARK: Fields

    static func sourceOffset(_ version: IPVersion) -> Int { version == .v4 ? 12 : 8 }
    static func destinationOffset(_ version: IPVersion) -> Int { version == .v4 ? 16 : 24 }

    /// Where a packet keeps its source port, destination port or ICMP echo identifier (one field for both), if it
    /// has them.
    static func portOffsets(_ bytes: [UInt8], _ layout: Layout) -> (source: Int, destination: Int)? {
        let offset = layout.transportOffset
        switch layout.ipProtocol {
        case 6, 17:
            return (offset, offset + 2)
        case _ where isICMP(layout) && isICMPEcho(version: layout.version, type: bytes[offset]):
            return (offset + 4, offset + 4)
        default:
            return nil
        }
    }

    static func transportProtocol(_ bytes: [UInt8], _ layout: Layout, at offset: Int) -> TransportProtocol {
        switch layout.ipProtocol {
        case 6: .tcp(port: uint16(bytes, offset))
        case 17: .udp(port: uint16(bytes, offset))
        default: .icmpEcho(identifier: uint16(bytes, offset))
        }
    }

    /// Where the payload starts: after the UDP, TCP or ICMP header, or right after the IP headers.
    static func payloadOffset(_ bytes: [UInt8], _ layout: Layout) -> Int {
        let offset = layout.transportOffset
        switch layout.ipProtocol {
        case 17: return offset + 8
        case 6: return offset + Int(bytes[offset + 12] >> 4) * 4
        case _ where isICMP(layout): return offset + 8
        default: return offset
        }
    }

    static func ecn(_ bytes: [UInt8], _ version: IPVersion) -> UInt8 {
        version == .v4 ? bytes[1] & 0b11 : (bytes[1] >> 4) & 0b11
    }

    static func setECN(_ bytes: inout [UInt8], _ version: IPVersion, _ ecn: UInt8) {
        switch version {
        case .v4: bytes[1] = bytes[1] & ~0b11 | ecn
        case .v6: bytes[1] = bytes[1] & ~0b11_0000 | ecn << 4
        }
    }

    /// RFC 6040 §4.2 (normal mode): the inner codepoint, except CE on the outer header marks an ECT inner one.
    static func decapsulatedECN(inner: UInt8, outer: UInt8) -> UInt8 {
        outer == 0b11 && (inner == 0b01 || inner == 0b10) ? 0b11 : inner
    }

    // MARK: Checksums (RFC 1071, word by word)

    /// The 16-bit ones' complement sum of big-endian words, an odd last byte padded with zero.
    static func sum(_ bytes: ArraySlice<UInt8>, plus initial: UInt32 = 0) -> UInt16 {
        var sum = initial
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let high = UInt32(bytes[index])
            let low = index + 1 < bytes.endIndex ? UInt32(bytes[index + 1]) : 0
            sum += high << 8 | low
            sum = (sum & 0xFFFF) + (sum >> 16)
            index += 2
        }
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16)
        }
        return UInt16(sum)
    }

    /// Where the transport checksum is, for the protocols whose checksum the library maintains.
    static func transportChecksumOffset(_ layout: Layout) -> Int? {
        switch layout.ipProtocol {
        case 6: layout.transportOffset + 16
        case 17: layout.transportOffset + 6
        case _ where isICMP(layout): layout.transportOffset + 2
        default: nil
        }
    }

    /// The pseudo-header sum (RFC 768, RFC 9293 §3.1, RFC 8200 §8.1) for TCP, UDP and ICMPv6; zero for ICMPv4.
    static func pseudoHeaderSum(_ bytes: [UInt8], _ layout: Layout) -> UInt32 {
        guard layout.ipProtocol == 6 || layout.ipProtocol == 17 || layout.ipProtocol == 58 else {
            return 0
        }
        let addresses = layout.version == .v4 ? bytes[12..<20] : bytes[8..<40]
        let segmentLength = UInt32(bytes.count - layout.transportOffset)
        // IPv4: zero, protocol, 16-bit length. IPv6: 32-bit length, three zeros, next header. Same sum.
        return UInt32(sum(addresses)) + UInt32(layout.ipProtocol) + (segmentLength >> 16) + (segmentLength & 0xFFFF)
    }

    /// `bytes` with the IPv4 header checksum and the transport checksum computed from scratch, as
    /// `computeChecksums()` documents it: a UDP checksum that computes to zero is sent as 0xFFFF (RFC 768).
    static func withChecksums(_ bytes: [UInt8], _ layout: Layout) -> [UInt8] {
        var bytes = bytes
        if layout.version == .v4 {
            setUInt16(&bytes, 10, 0)
            setUInt16(&bytes, 10, ~sum(bytes[0..<layout.transportOffset]))
        }
        if let offset = transportChecksumOffset(layout) {
            setUInt16(&bytes, offset, 0)
            var checksum = ~sum(bytes[layout.transportOffset...], plus: pseudoHeaderSum(bytes, layout))
            if layout.ipProtocol == 17, checksum == 0 {
                checksum = 0xFFFF
            }
            setUInt16(&bytes, offset, checksum)
        }
        return bytes
    }

    /// Whether the checksums verify: every covered sum is all ones; an IPv4 UDP checksum of zero means none.
    static func hasValidChecksums(_ bytes: [UInt8], _ layout: Layout) -> Bool {
        if layout.version == .v4, sum(bytes[0..<layout.transportOffset]) != 0xFFFF {
            return false
        }
        guard let offset = transportChecksumOffset(layout) else {
            return true
        }
        if layout.version == .v4, layout.ipProtocol == 17, uint16(bytes, offset) == 0 {
            return true
        }
        return sum(bytes[layout.transportOffset...], plus: pseudoHeaderSum(bytes, layout)) == 0xFFFF
    }

    // MARK: ICMP errors

    /// What an ICMP error's quote should be read as.
    struct Quote: Equatable {
        var source: IPAddress
        var destination: IPAddress
        var ipProtocol: UInt8
        var transportOffset: Int
        var sourceProtocol: TransportProtocol?
        var destinationProtocol: TransportProtocol?
    }

    /// The ICMP error kind of a message of this type, or `nil` if the type is no error `icmpError()` reads.
    static func icmpError(version: IPVersion, type: UInt8, code: UInt8, restOfHeader: UInt32) -> ICMPError? {
        switch (version, type) {
        case (.v4, 3): .v4Unreachable(code: code)
        case (.v4, 11): .v4TimeExceeded(code: code)
        case (.v6, 1): .v6Unreachable(code: code)
        case (.v6, 2): .v6PacketTooBig(mtu: restOfHeader)
        case (.v6, 3): .v6TimeExceeded(code: code)
        default: nil
        }
    }

    /// The quoted packet read from the body of an ICMP error in an IP`version` packet, or `nil` if it must be
    /// rejected: a packet of the same IP version whose header is there; only the fixed IPv6 header is read.
    static func quote(_ quote: ArraySlice<UInt8>, version: IPVersion) -> Quote? {
        let quote = Array(quote)
        guard let first = quote.first, first >> 4 == version.rawValue else {
            return nil
        }
        let headerLength: Int
        let ipProtocol: UInt8
        switch version {
        case .v4:
            headerLength = Int(first & 0x0F) * 4
            guard quote.count >= 20, headerLength >= 20, headerLength <= quote.count else {
                return nil
            }
            ipProtocol = quote[9]
        case .v6:
            guard quote.count >= 40 else {
                return nil
            }
            headerLength = 40
            ipProtocol = quote[6]
        }
        var result = Quote(
            source: address(quote, sourceOffset(version), version),
            destination: address(quote, destinationOffset(version), version),
            ipProtocol: ipProtocol,
            transportOffset: headerLength
        )
        let transport = quote.count - headerLength
        switch ipProtocol {
        case 6 where transport >= 4:
            result.sourceProtocol = .tcp(port: uint16(quote, headerLength))
            result.destinationProtocol = .tcp(port: uint16(quote, headerLength + 2))
        case 17 where transport >= 4:
            result.sourceProtocol = .udp(port: uint16(quote, headerLength))
            result.destinationProtocol = .udp(port: uint16(quote, headerLength + 2))
        case 1 where version == .v4 && transport >= 8 && isICMPEcho(version: .v4, type: quote[headerLength]),
            58 where version == .v6 && transport >= 8 && isICMPEcho(version: .v6, type: quote[headerLength]):
            result.sourceProtocol = .icmpEcho(identifier: uint16(quote, headerLength + 4))
            result.destinationProtocol = result.sourceProtocol
        default:
            break
        }
        return result
    }
}
