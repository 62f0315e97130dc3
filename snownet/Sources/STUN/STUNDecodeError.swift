/// Why bytes are not a STUN message we accept.
///
/// The first four cases mean the datagram is not a STUN message at all; the others mean a STUN header was valid
/// but its attributes are not, and a server answers a request with 400 (read the header with
/// ``STUNMessageHeader`` to address the answer). Peers control every case: none of them traps.
public enum STUNDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the 20-byte header.
    case tooShort(length: Int)
    /// RFC 8489 §5: the two most significant bits of a STUN message are zero.
    case notSTUN(firstByte: UInt8)
    case badMagicCookie(UInt32)
    /// RFC 8489 §5: the message length, which excludes the header, is a multiple of 4.
    case unalignedLength(Int)
    /// The header's message length is not exactly what follows the header: one datagram carries one message.
    case lengthMismatch(declared: Int, actual: Int)
    /// An attribute's value (and padding) runs past the end of the message.
    case truncatedAttribute(type: UInt16, length: Int, available: Int)
    /// A known attribute whose value has the wrong length or an out-of-range field.
    case malformedAttribute(type: UInt16, length: Int)
    /// An address or address-family attribute names a family other than 0x01 (IPv4) or 0x02 (IPv6).
    case invalidAddressFamily(type: UInt16, family: UInt8)
    /// A text attribute is not UTF-8.
    case invalidUTF8(type: UInt16)
    /// RFC 8489 §14.7: FINGERPRINT is the last attribute.
    case attributeAfterFingerprint(type: UInt16)
    /// The FINGERPRINT does not match the CRC-32 of the message before it.
    case badFingerprint(received: UInt32, computed: UInt32)

    public var description: String {
        switch self {
        case .tooShort(let length):
            "\(length) bytes are too short for a STUN header"
        case .notSTUN(let firstByte):
            "first byte 0x\(String(firstByte, radix: 16)) has a most significant bit set: not STUN"
        case .badMagicCookie(let cookie):
            "magic cookie 0x\(String(cookie, radix: 16)) is not 0x2112a442"
        case .unalignedLength(let length):
            "message length \(length) is not a multiple of 4"
        case .lengthMismatch(let declared, let actual):
            "message length \(declared) does not match the \(actual) bytes after the header"
        case .truncatedAttribute(let type, let length, let available):
            "attribute \(hex(type)) of length \(length) exceeds the \(available) bytes left in the message"
        case .malformedAttribute(let type, let length):
            "attribute \(hex(type)) has a malformed value of \(length) bytes"
        case .invalidAddressFamily(let type, let family):
            "attribute \(hex(type)) has the invalid address family 0x\(String(family, radix: 16))"
        case .invalidUTF8(let type):
            "attribute \(hex(type)) is not UTF-8"
        case .attributeAfterFingerprint(let type):
            "attribute \(hex(type)) follows FINGERPRINT"
        case .badFingerprint(let received, let computed):
            "FINGERPRINT 0x\(String(received, radix: 16)) does not match 0x\(String(computed, radix: 16))"
        }
    }
}

private func hex(_ type: UInt16) -> String {
    let digits = String(type, radix: 16)
    return "0x" + String(repeating: "0", count: 4 - digits.count) + digits
}
