import FirezoneTesting
import Testing
import WireGuard

struct PeerIndexAllocatorTests {
    /// Firezone demultiplexes on `index >> 8`: two connections must never share the upper 24 bits. The LFSR visits
    /// every one of the 2^24 − 1 non-zero states once, so a whole period hands out distinct indices, then stops.
    @Test(arguments: TestSeeds.seeds(count: 1))
    func aWholePeriodHandsOutDistinctIndicesThenStops(seed: UInt64) {
        var allocator = PeerIndexAllocator(seed: seed)
        var seen = [UInt64](repeating: 0, count: 1 << 18)
        var duplicates = 0
        var count = 0
        while let index = allocator.next() {
            let value = Int(index.rawValue)
            let bit: UInt64 = 1 << (value & 63)
            if seen[value >> 6] & bit != 0 {
                duplicates += 1
            }
            seen[value >> 6] |= bit
            count += 1
        }
        #expect(duplicates == 0, "\(TestSeeds.replayHint(seed))")
        #expect(count == (1 << 24) - 1, "\(TestSeeds.replayHint(seed))")
        #expect(allocator.next() == nil)
    }

    /// The seed, injected by the caller, decides the order: two nodes do not hand out the same first indices, and
    /// consecutive indices are not consecutive numbers.
    @Test func theSeedScramblesTheOrder() {
        var first = PeerIndexAllocator(seed: 0x1234_5678_9ABC)
        var second = PeerIndexAllocator(seed: 0x0FED_CBA9_8765)
        let a = (0..<8).compactMap { _ in first.next()?.rawValue }
        let b = (0..<8).compactMap { _ in second.next()?.rawValue }
        #expect(a != b)
        #expect(zip(a, a.dropFirst()).contains { $1 != $0 &+ 1 })
        var again = PeerIndexAllocator(seed: 0x1234_5678_9ABC)
        #expect((0..<8).compactMap { _ in again.next()?.rawValue } == a)
    }
}
