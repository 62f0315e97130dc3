/// A router's map from peer index to peer position, looked up on every datagram (Firezone demultiplexes on
/// `index >> 8`). Open addressing with linear probing and a multiplicative (Fibonacci) hash, at most half full:
/// one multiplication and usually one probe, where a `Dictionary` runs SipHash on every lookup. The keys are our own
/// indices (``PeerIndexAllocator``), spread over 24 bits; a datagram can choose which index it looks up but never
/// which ones are stored, so it cannot lengthen the probe sequences.
struct PeerIndexTable {
    private static let empty = UInt32.max
    private static let minimumCapacity = 16

    private var keys: ContiguousArray<UInt32>
    private var positions: ContiguousArray<Int>
    private(set) var count = 0

    init() {
        self.keys = ContiguousArray(repeating: Self.empty, count: Self.minimumCapacity)
        self.positions = ContiguousArray(repeating: 0, count: Self.minimumCapacity)
    }

    private var mask: Int { self.keys.count - 1 }

    private func home(of key: UInt32) -> Int {
        // 2^32 / φ: consecutive and clustered keys land far apart; the high bits of the product are the best mixed.
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9) >> UInt32(32 - self.keys.count.trailingZeroBitCount))
            & self.mask
    }

    /// The slot holding `key`, or the empty slot where it would go.
    private func slot(of key: UInt32) -> (slot: Int, found: Bool) {
        var slot = self.home(of: key)
        while true {
            let stored = self.keys[slot]
            if stored == key {
                return (slot, true)
            }
            if stored == Self.empty {
                return (slot, false)
            }
            slot = (slot + 1) & self.mask
        }
    }

    subscript(index: PeerIndex) -> Int? {
        get {
            let (slot, found) = self.slot(of: index.rawValue)
            return found ? self.positions[slot] : nil
        }
        set {
            if let newValue {
                self.insert(index.rawValue, newValue)
            } else {
                _ = self.removeValue(forKey: index)
            }
        }
    }

    @discardableResult
    mutating func removeValue(forKey index: PeerIndex) -> Int? {
        var (hole, found) = self.slot(of: index.rawValue)
        guard found else {
            return nil
        }
        let removed = self.positions[hole]
        self.count -= 1
        // Backward-shift deletion: every later key of the run whose home is not between the hole and itself moves
        // into the hole, so that no lookup stops early at an empty slot.
        var next = (hole + 1) & self.mask
        while self.keys[next] != Self.empty {
            let home = self.home(of: self.keys[next])
            let distanceToNext = (next - home) & self.mask
            let distanceToHole = (hole - home) & self.mask
            if distanceToHole < distanceToNext {
                self.keys[hole] = self.keys[next]
                self.positions[hole] = self.positions[next]
                hole = next
            }
            next = (next + 1) & self.mask
        }
        self.keys[hole] = Self.empty
        return removed
    }

    private mutating func insert(_ key: UInt32, _ position: Int) {
        let (slot, found) = self.slot(of: key)
        if found {
            self.positions[slot] = position
            return
        }
        if (self.count + 1) * 2 > self.keys.count {
            self.grow()
            self.insert(key, position)
            return
        }
        self.keys[slot] = key
        self.positions[slot] = position
        self.count += 1
    }

    private mutating func grow() {
        let keys = self.keys
        let positions = self.positions
        self.keys = ContiguousArray(repeating: Self.empty, count: keys.count * 2)
        self.positions = ContiguousArray(repeating: 0, count: keys.count * 2)
        self.count = 0
        for slot in keys.indices where keys[slot] != Self.empty {
            self.insert(keys[slot], positions[slot])
        }
    }
}
