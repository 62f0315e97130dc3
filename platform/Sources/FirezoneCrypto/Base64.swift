/// Standard base64 (RFC 4648 §4): keys as configuration files and the portal carry them (padded), and Firezone's
/// relay passwords (Firezone's rust/relay/server/src/auth.rs: `base64_nopad(SHA256(…))`, unpadded).
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// The base64 text of `bytes`; with `padding: false` the trailing `=` are left out (RFC 4648 §3.2).
    public static func encode(_ bytes: [UInt8], padding: Bool = true) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let remaining = bytes.count - index
            let b0 = UInt32(bytes[index])
            let b1 = remaining > 1 ? UInt32(bytes[index + 1]) : 0
            let b2 = remaining > 2 ? UInt32(bytes[index + 2]) : 0
            let group = b0 << 16 | b1 << 8 | b2
            output.append(Self.alphabet[Int(group >> 18 & 63)])
            output.append(Self.alphabet[Int(group >> 12 & 63)])
            if remaining > 1 {
                output.append(Self.alphabet[Int(group >> 6 & 63)])
            } else if padding {
                output.append(UInt8(ascii: "="))
            }
            if remaining > 2 {
                output.append(Self.alphabet[Int(group & 63)])
            } else if padding {
                output.append(UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The bytes of canonical padded base64, or nil for anything else (wrong length, characters or padding).
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 4 == 0 else {
            return nil
        }
        var output: [UInt8] = []
        output.reserveCapacity(characters.count / 4 * 3)
        var index = 0
        while index < characters.count {
            var group: UInt32 = 0
            var padding = 0
            for offset in 0..<4 {
                let character = characters[index + offset]
                let value: UInt32
                if character == UInt8(ascii: "=") {
                    // Padding only at the end of the last group, at most two.
                    guard index + 4 == characters.count, offset >= 2 else {
                        return nil
                    }
                    padding += 1
                    value = 0
                } else {
                    guard padding == 0, let decoded = Self.value(of: character) else {
                        return nil
                    }
                    value = decoded
                }
                group = group << 6 | value
            }
            output.append(UInt8(truncatingIfNeeded: group >> 16))
            if padding < 2 {
                output.append(UInt8(truncatingIfNeeded: group >> 8))
            }
            if padding < 1 {
                output.append(UInt8(truncatingIfNeeded: group))
            }
            // Canonical form: the bits that padding drops must be zero.
            if padding == 1 && group & 0xFF != 0 || padding == 2 && group & 0xFFFF != 0 {
                return nil
            }
            index += 4
        }
        return output
    }

    private static func value(of character: UInt8) -> UInt32? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(character - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(character - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(character - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
