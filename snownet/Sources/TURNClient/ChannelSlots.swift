import STUN

/// Channel records indexed by their number: the client's numbers come from one small range
/// (``TURNClientConstants/channelNumbers``), so a slot per number, grown up to the highest number in use, finds a
/// channel without hashing (a relayed packet looks its channel up either way). Reads like a dictionary keyed by the
/// number, and iterates in number order.
struct ChannelSlots<Element> {
    private var slots: ContiguousArray<Element?> = []
    private(set) var count = 0

    private static func slot(_ number: UInt16) -> Int? {
        let range = TURNClientConstants.channelNumbers
        return range.contains(number) ? Int(number - range.lowerBound) : nil
    }

    /// The record of `number`; nil for a number outside the client's range. Setting nil removes it; setting a record
    /// for a number outside the range is a programming error.
    subscript(number: UInt16) -> Element? {
        get {
            guard let slot = Self.slot(number), slot < self.slots.count else {
                return nil
            }
            return self.slots[slot]
        }
        set {
            guard let slot = Self.slot(number) else {
                precondition(newValue == nil, "channel number \(number) is outside the client's range")
                return
            }
            if slot >= self.slots.count {
                guard newValue != nil else {
                    return
                }
                self.slots.append(contentsOf: repeatElement(nil, count: slot + 1 - self.slots.count))
            }
            self.count += (newValue == nil ? 0 : 1) - (self.slots[slot] == nil ? 0 : 1)
            self.slots[slot] = newValue
        }
    }

    /// Removes and returns the record of `number`.
    mutating func removeValue(forKey number: UInt16) -> Element? {
        let removed = self[number]
        self[number] = nil
        return removed
    }

    mutating func removeAll() {
        self.slots.removeAll()
        self.count = 0
    }

    /// Every record with its number, in number order.
    var elements: [(number: UInt16, element: Element)] {
        self.slots.indices.compactMap { slot in
            self.slots[slot].map { (TURNClientConstants.channelNumbers.lowerBound + UInt16(slot), $0) }
        }
    }
}
