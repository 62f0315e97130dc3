/// The sliding window of received counters of one session (RFC 6479, as in wireguard-go's `replay.Filter`):
/// 2048 bits in a ring of 64-bit blocks, accepting each counter at most once and nothing more than
/// ``windowSize`` (1984) behind the highest seen.
///
/// The Linux kernel and wireguard-go keep 8192 bits, for the reordering that their parallel decryption on several
/// cores adds; a tunnel here decrypts one peer's packets in the order its socket delivers them, as boringtun does,
/// whose window (1024 bits) Firezone runs. 2048 bits still absorb two milliseconds of reordering at 10 Gbit/s, and
/// a gateway keeps two or three sessions for each of thousands of connections: a quarter of the memory counts.
package struct ReplayWindow {
    private static let blocks = 32
    private static let bitsPerBlock = 64
    /// One block is always being rotated in, so the usable window is one block shorter than the ring.
    package static let windowSize: UInt64 = UInt64((blocks - 1) * bitsPerBlock)

    private var highest: UInt64 = 0

    package init() {}
    private var ring: InlineArray<32, UInt64> = .init(repeating: 0)

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
