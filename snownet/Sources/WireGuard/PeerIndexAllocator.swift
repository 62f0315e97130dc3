/// Hands out the 24-bit peer indices of a node (the upper bits of every session index, on which Firezone
/// demultiplexes with `index >> 8`): no index twice until all 2^24 − 1 are used, and in an order an observer of a
/// few indices cannot continue, so that indices reveal neither how many connections a node has nor which index the
/// next one gets.
///
/// As boringtun's `IndexLfsr`, which Firezone uses: a maximal-length 24-bit Galois LFSR, which visits every
/// non-zero state once per period, started at a random state; each output is the state XOR a random mask. Both come
/// from the seed the caller injects.
public struct PeerIndexAllocator: Sendable {
    /// x^24 + x^23 + x^22 + x^17 + 1, a maximal-length polynomial (Xilinx XAPP052, table 3), as Galois taps for a
    /// right shift.
    private static let taps: UInt32 = 0xE1_0000

    private let initial: UInt32
    private var state: UInt32
    private let mask: UInt32
    private var isExhausted = false

    /// The low 24 bits of `seed` pick the start (zero, the LFSR's one fixed point, becomes one), the next 24 the
    /// mask.
    public init(seed: UInt64) {
        let start = UInt32(truncatingIfNeeded: seed) & PeerIndex.maximum
        self.initial = start == 0 ? 1 : start
        self.state = self.initial
        self.mask = UInt32(truncatingIfNeeded: seed >> 24) & PeerIndex.maximum
    }

    /// The next unused index, or nil once all 2^24 − 1 have been handed out.
    public mutating func next() -> PeerIndex? {
        guard !self.isExhausted else {
            return nil
        }
        let value = (self.state - 1) ^ self.mask
        self.state = (self.state >> 1) ^ ((0 &- (self.state & 1)) & Self.taps)
        self.isExhausted = self.state == self.initial
        return PeerIndex(value)
    }
}
