import FirezoneTesting
import IPPacket

/// Addresses for randomised tests: a few bases with random low bits, so that networks nest and collide.
enum RandomNetworks {
    static func address(using rng: inout SeededRandomNumberGenerator) -> IPAddress {
        if Bool.random(using: &rng) {
            let first: [UInt32] = [0x0A00_0000, 0x6440_0000, 0xC000_0200, 0x0000_0000, 0xFFFF_FFFF]
            let base = first.randomElement(using: &rng)!
            let noise = UInt32.random(in: 0...UInt32.max, using: &rng) >> UInt32.random(in: 0...32, using: &rng)
            return .v4(IPv4Address(rawValue: base ^ noise))
        }
        let high: [UInt64] = [0xFD00_2021_1111_0000, 0x2001_0DB8_0000_0000, 0, 0xFFFF_FFFF_FFFF_FFFF]
        let base = high.randomElement(using: &rng)!
        let highBits = base ^ (UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...64, using: &rng))
        let low = UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...64, using: &rng)
        return .v6(IPv6Address(high: highBits, low: low))
    }
}
