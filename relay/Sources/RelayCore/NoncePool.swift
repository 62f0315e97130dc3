/// The relay's nonces, as at the seed era (reference §3.3, seed-era delta §3.2/3.3): one pool for all clients;
/// every 401 or 438 response hands out a fresh random nonce, good for a fixed number of authenticated requests.
struct NoncePool {
    /// Nonces and the uses each has left. Never iterated, so its order cannot leak.
    private var remainingUses: [String: Int] = [:]

    enum Check: Equatable {
        /// Known and not used up; one use was taken.
        case valid
        /// Not a nonce we would have issued: a 401.
        case malformed
        /// Issued once, but unknown now or used up: a 438 Stale Nonce.
        case stale
    }

    /// Issues a fresh nonce: a random UUID (version 4) in its text form.
    mutating func issue(using rng: inout some RandomNumberGenerator) -> String {
        let nonce = Self.uuidString(high: rng.next(), low: rng.next())
        self.remainingUses[nonce] = RelayConstants.nonceUses
        return nonce
    }

    /// Takes one use of `nonce`.
    mutating func use(_ nonce: String) -> Check {
        guard Self.isUUID(nonce) else {
            return .malformed
        }
        guard let remaining = self.remainingUses[nonce] else {
            return .stale
        }
        if remaining <= 1 {
            self.remainingUses[nonce] = nil
        } else {
            self.remainingUses[nonce] = remaining - 1
        }
        return .valid
    }

    var count: Int {
        self.remainingUses.count
    }

    /// RFC 9562 §5.4: version 4 and the RFC 4122 variant over 122 random bits.
    static func uuidString(high: UInt64, low: UInt64) -> String {
        let high = high & ~0xF000 | 0x4000
        let low = low & ~(0b11 << 62) | (0b10 << 62)
        func hex(_ value: UInt64, digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: digits - text.count) + text
        }
        return hex(high >> 32, digits: 8) + "-" + hex(high >> 16 & 0xFFFF, digits: 4) + "-"
            + hex(high & 0xFFFF, digits: 4) + "-" + hex(low >> 48, digits: 4) + "-" + hex(low & 0xFFFF_FFFF_FFFF, digits: 12)
    }

    /// The 8-4-4-4-12 hex form, any version.
    static func isUUID(_ text: String) -> Bool {
        let groups = text.utf8.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12]
            && groups.allSatisfy { $0.allSatisfy { byte in (byte >= 48 && byte <= 57) || (byte | 0x20 >= 97 && byte | 0x20 <= 102) } }
    }
}
