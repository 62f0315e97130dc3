/// The CRC-32 of FINGERPRINT: ITU V.42 / ISO-HDLC, reflected polynomial 0xEDB88320, initial value and final XOR
/// 0xFFFFFFFF (the CRC of zlib and gzip).
///
/// RFC 8489 §14.7:
/// > The 32-bit CRC is the one defined in ITU V.42 [ITU.V42.2002], which has a generator polynomial of x^32 + x^26 +
/// > x^23 + x^22 + x^16 + x^12 + x^11 + x^10 + x^8 + x^7 + x^5 + x^4 + x^2 + x + 1. See the sample code for the
/// > CRC-32 in Section 8 of [RFC1952].
///
/// Byte-at-a-time with a 256-entry table, as in RFC 1952 §8: FINGERPRINT covers control messages only.
/// `package` so the tests can check it against the standard's check values and build FINGERPRINTs by hand.
package enum CRC32 {
    /// The polynomial above, bit-reversed for a least-significant-bit-first shift register.
    package static let reflectedPolynomial: UInt32 = 0xEDB8_8320

    static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 {
            value = value & 1 == 1 ? reflectedPolynomial ^ (value >> 1) : value >> 1
        }
        return value
    }

    package static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        Self.table.withUnsafeBufferPointer { table in
            for byte in bytes {
                crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            }
        }
        return ~crc
    }
}
