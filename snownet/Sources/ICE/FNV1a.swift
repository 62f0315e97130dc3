import IPPacket

/// The 64-bit FNV-1a hash (Fowler, Noll, Vo; draft-eastlake-fnv): small, fixed, and the same on every run and
/// platform, unlike Swift's per-process seeded `Hasher`.
struct FNV1a {
    private static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    private static let prime: UInt64 = 0x0000_0100_0000_01B3

    private(set) var value: UInt64 = Self.offsetBasis

    mutating func update(_ byte: UInt8) {
        self.value = (self.value ^ UInt64(byte)) &* Self.prime
    }

    mutating func update(_ text: String) {
        for byte in text.utf8 {
            self.update(byte)
        }
    }

    mutating func update(_ address: IPAddress) {
        switch address {
        case .v4(let v4):
            self.update(bigEndian: UInt64(v4.rawValue), bytes: 4)
        case .v6(let v6):
            self.update(bigEndian: v6.high, bytes: 8)
            self.update(bigEndian: v6.low, bytes: 8)
        }
    }

    private mutating func update(bigEndian value: UInt64, bytes: Int) {
        for index in (0..<bytes).reversed() {
            self.update(UInt8(truncatingIfNeeded: value >> (8 * index)))
        }
    }
}
