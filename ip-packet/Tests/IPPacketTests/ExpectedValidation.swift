import IPPacket

/// What `IPPacket(_:)` must decide for some bytes, read a second time from the rules the type documents: RFC 791
/// §3.1 (IPv4 header), RFC 8200 §3–§4 (IPv6 header, extension headers), RFC 4302 §2.2 (AH length), RFC 768
/// (UDP length), RFC 9293 §3.1 (TCP data offset), RFC 792 and RFC 4443 (the 8-byte ICMP header), Firezone's
/// 8-byte control header, and Firezone's 1280-byte MTU.
///
/// It walks a plain array with the protocol numbers spelled out, sharing no code with the parser, so the property
/// tests compare the parser's typed error with an independent reading of the bytes rather than with itself.
enum ExpectedValidation: Equatable {
    case valid(IPVersion, IPProtocol, transportOffset: Int)
    case invalid(IPPacketError.Reason)

    init(_ bytes: [UInt8]) {
        self = Self.read(bytes)
    }

    private static func read(_ bytes: [UInt8]) -> Self {
        guard let first = bytes.first else {
            return .invalid(.empty)
        }
        guard bytes.count <= 1280 else {
            return .invalid(.tooLong(length: bytes.count))
        }
        func uint16(at index: Int) -> Int {
            Int(bytes[index]) << 8 | Int(bytes[index + 1])
        }

        let version: IPVersion
        let upperLayer: UInt8
        let transportOffset: Int
        switch first >> 4 {
        case 4:
            guard bytes.count >= 20 else {
                return .invalid(.truncatedIPHeader(version: .v4, length: bytes.count))
            }
            let words = first & 0x0F
            guard words >= 5, Int(words) * 4 <= bytes.count else {
                return .invalid(.invalidIPv4HeaderLength(words: words))
            }
            guard uint16(at: 2) == bytes.count else {
                return .invalid(.totalLengthMismatch(declared: uint16(at: 2), actual: bytes.count))
            }
            // Flags (reserved, DF, MF) then the 13-bit fragment offset: MF or an offset make a fragment.
            let moreFragments = bytes[6] & 0x20 != 0
            let fragmentOffset = uint16(at: 6) & 0x1FFF
            guard !moreFragments, fragmentOffset == 0 else {
                return .invalid(.fragmented)
            }
            version = .v4
            upperLayer = bytes[9]
            transportOffset = Int(words) * 4
        case 6:
            guard bytes.count >= 40 else {
                return .invalid(.truncatedIPHeader(version: .v6, length: bytes.count))
            }
            guard uint16(at: 4) == bytes.count - 40 else {
                return .invalid(.payloadLengthMismatch(declared: uint16(at: 4), actual: bytes.count - 40))
            }
            var nextHeader = bytes[6]
            var offset = 40
            var extensionHeaders = 0
            walk: while true {
                let length: Int
                switch nextHeader {
                case 0, 43, 60:  // hop-by-hop options, routing, destination options: (Hdr Ext Len + 1) × 8
                    guard offset + 2 <= bytes.count else {
                        return .invalid(.truncatedExtensionHeader(IPProtocol(rawValue: nextHeader)))
                    }
                    length = (Int(bytes[offset + 1]) + 1) * 8
                case 51:  // authentication header: (Payload Len + 2) × 4
                    guard offset + 2 <= bytes.count else {
                        return .invalid(.truncatedExtensionHeader(IPProtocol(rawValue: nextHeader)))
                    }
                    length = (Int(bytes[offset + 1]) + 2) * 4
                case 44:
                    return .invalid(.fragmented)
                default:
                    break walk
                }
                guard offset + length <= bytes.count else {
                    return .invalid(.truncatedExtensionHeader(IPProtocol(rawValue: nextHeader)))
                }
                extensionHeaders += 1
                guard extensionHeaders <= 8 else {
                    return .invalid(.tooManyExtensionHeaders)
                }
                nextHeader = bytes[offset]
                offset += length
            }
            version = .v6
            upperLayer = nextHeader
            transportOffset = offset
        case let nibble:
            return .invalid(.unsupportedVersion(nibble))
        }

        let ipProtocol = IPProtocol(rawValue: upperLayer)
        let segmentLength = bytes.count - transportOffset
        switch upperLayer {
        case 17:
            guard segmentLength >= 8 else {
                return .invalid(.truncatedTransportHeader(ipProtocol, length: segmentLength))
            }
            guard uint16(at: transportOffset + 4) == segmentLength else {
                return .invalid(.udpLengthMismatch(declared: uint16(at: transportOffset + 4), actual: segmentLength))
            }
        case 6:
            guard segmentLength >= 20 else {
                return .invalid(.truncatedTransportHeader(ipProtocol, length: segmentLength))
            }
            let words = bytes[transportOffset + 12] >> 4
            guard words >= 5, Int(words) * 4 <= segmentLength else {
                return .invalid(.invalidTCPDataOffset(words: words, segmentLength: segmentLength))
            }
        case 1, 58:
            guard (upperLayer == 1) == (version == .v4) else {
                return .invalid(.icmpVersionMismatch(ipProtocol, version))
            }
            guard segmentLength >= 8 else {
                return .invalid(.truncatedTransportHeader(ipProtocol, length: segmentLength))
            }
        case 0xFF where version == .v6:
            // A Firezone control packet goes from `::` to `::`; only such a packet needs the control header.
            let fromAndToUnspecified = bytes[8..<40].allSatisfy { $0 == 0 }
            guard !fromAndToUnspecified || segmentLength >= 8 else {
                return .invalid(.truncatedP2PControlHeader(length: segmentLength))
            }
        default:
            break
        }
        return .valid(version, ipProtocol, transportOffset: transportOffset)
    }
}
