import FirezoneTesting
import Testing

@testable import WireGuard

struct PeerIndexTableTests {
    /// Random inserts, overwrites and removals (clustered keys as well as spread ones, so that probe runs form and
    /// deletions have to shift entries back) agree with a `Dictionary` after every step.
    @Test(arguments: TestSeeds.seeds(count: 20))
    func agreesWithADictionary(seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        var table = PeerIndexTable()
        var reference: [UInt32: Int] = [:]
        // A small key space so that keys collide in the table and are removed again often.
        let keys = (0..<300).map { _ in
            Bool.random(using: &rng)
                ? UInt32.random(in: 0...PeerIndex.maximum, using: &rng) : UInt32.random(in: 0..<64, using: &rng)
        }
        for step in 0..<5_000 {
            let key = keys.randomElement(using: &rng)!
            if Int.random(in: 0..<3, using: &rng) == 0 {
                #expect(table.removeValue(forKey: PeerIndex(key)) == reference.removeValue(forKey: key))
            } else {
                table[PeerIndex(key)] = step
                reference[key] = step
            }
            #expect(table.count == reference.count, "\(TestSeeds.replayHint(seed))")
            for probe in keys.prefix(40) where table[PeerIndex(probe)] != reference[probe] {
                Issue.record("index \(probe) after step \(step): \(TestSeeds.replayHint(seed))")
                return
            }
        }
        for key in keys where table[PeerIndex(key)] != reference[key] {
            Issue.record("index \(key) at the end: \(TestSeeds.replayHint(seed))")
        }
    }

    @Test func anIndexNeverStoredFindsNothing() {
        var table = PeerIndexTable()
        for key in UInt32(0)..<1_000 {
            table[PeerIndex(key * 7)] = Int(key)
        }
        #expect(table[PeerIndex(1)] == nil)
        #expect(table[PeerIndex(PeerIndex.maximum)] == nil)
        #expect(table[PeerIndex(7 * 999)] == 999)
    }
}
