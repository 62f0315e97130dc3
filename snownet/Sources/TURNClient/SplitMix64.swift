/// The allocation's source of transaction ids: SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom
/// number generators", OOPSLA 2014) from the caller's seed, so that the client never draws entropy of its own.
///
/// RFC 8489 §6 asks for transaction ids "uniformly and randomly chosen from the interval 0 .. 2**96 - 1" so that an
/// off-path attacker cannot guess them; the caller seeds each allocation from a cryptographic source.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
