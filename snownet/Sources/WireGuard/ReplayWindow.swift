/// The sliding window of received counters of one session (RFC 6479, as in wireguard-go's `replay.Filter`):
/// 8192 bits in a ring of 64-bit blocks, accepting each counter at most once and nothing more than
/// ``windowSize`` (8128, as wireguard-go's `replay.Filter` and the Linux kernel's `COUNTER_WINDOW_SIZE`)
/// behind the highest seen: a window that wide absorbs the reordering of multi-queue NICs and parallel decryption.
package struct ReplayWindow {
    private static let blocks = 128
    private static let bitsPerBlock = 64
    /// One block is always being rotated in, so the usable window is one block shorter than the ring.
    package static let windowSize: UInt64 = UInt64((blocks - 1) * bitsPerBlock)

    private var highest: UInt64 = 0

    package init() {}
    private var ring: InlineArray<128, UInt64> = .init(repeating: 0)

    /// Whether `counter` would be accepted, without recording it: checked before decrypting, so that old
    /// packets cost no crypto.
    package func mightAccept(_ counter: UInt64) -> Bool {
        counter < WireGuardConstants.rejectAfterMessages
            && (counter > self.highest || self.highest - counter <= Self.windowSize)
    }

    /// Records `counter` of an authenticated packet; false if it was seen before or is out of the window.
    package mutating func accept(_ counter: UInt64) -> Bool {
        guard counter < WireGuardConstants.rejectAfterMessages else {
            return false
        }
        let block = counter >> 6
        if counter > self.highest {
            let current = self.highest >> 6
            let advance = min(block - current, UInt64(Self.blocks))
            var step: UInt64 = 1
            while step <= advance {
                self.ring[Int((current + step) & UInt64(Self.blocks - 1))] = 0
                step += 1
            }
            self.highest = counter
        } else if self.highest - counter > Self.windowSize {
            return false
        }
        let index = Int(block & UInt64(Self.blocks - 1))
        let bit: UInt64 = 1 << (counter & 63)
        let old = self.ring[index]
        self.ring[index] = old | bit
        return old & bit == 0
    }
}
