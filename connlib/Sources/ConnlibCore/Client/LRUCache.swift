/// A map of at most `capacity` entries that forgets the least recently used one to make room (connlib's
/// `lru::LruCache`, which the client uses for its route lookups and its recently connected gateways).
///
/// Entries sit in one array as a doubly linked list in order of use, with a hash table from key to slot: a
/// lookup, an insertion and an eviction are each one hash and a few index updates, none of them moving other
/// entries. Hash order never shows: ``keysByRecency`` follows the list.
public struct LRUCache<Key: Hashable, Value> {
    private struct Slot {
        var key: Key
        var value: Value
        /// Towards the more recently used entry; -1 at the head.
        var newer: Int
        /// Towards the less recently used entry; -1 at the tail.
        var older: Int
    }

    public let capacity: Int
    private var slots: [Slot] = []
    private var slotByKey: [Key: Int] = [:]
    /// The most recently used slot, -1 when empty.
    private var head = -1
    /// The least recently used slot, -1 when empty.
    private var tail = -1

    public init(capacity: Int) {
        precondition(capacity > 0, "an LRU cache holds at least one entry")
        self.capacity = capacity
    }

    public var count: Int {
        self.slotByKey.count
    }

    public var isEmpty: Bool {
        self.slotByKey.isEmpty
    }

    /// The value for `key`, which becomes the most recently used entry.
    public mutating func value(for key: Key) -> Value? {
        guard let slot = self.slotByKey[key] else {
            return nil
        }
        self.moveToHead(slot)
        return self.slots[slot].value
    }

    /// Whether `key` is cached, without touching its recency.
    public func contains(_ key: Key) -> Bool {
        self.slotByKey[key] != nil
    }

    /// Stores `value` for `key` as the most recently used entry, evicting the least recently used one when full.
    public mutating func insert(_ value: Value, for key: Key) {
        if let slot = self.slotByKey[key] {
            self.slots[slot].value = value
            self.moveToHead(slot)
            return
        }
        let slot: Int
        if self.slots.count < self.capacity {
            slot = self.slots.count
            self.slots.append(Slot(key: key, value: value, newer: -1, older: -1))
        } else {
            slot = self.tail
            self.unlink(slot)
            self.slotByKey.removeValue(forKey: self.slots[slot].key)
            self.slots[slot] = Slot(key: key, value: value, newer: -1, older: -1)
        }
        self.slotByKey[key] = slot
        self.linkAtHead(slot)
    }

    public mutating func removeAll() {
        self.slots.removeAll(keepingCapacity: true)
        self.slotByKey.removeAll(keepingCapacity: true)
        self.head = -1
        self.tail = -1
    }

    /// The keys, most recently used first.
    public var keysByRecency: [Key] {
        var keys: [Key] = []
        keys.reserveCapacity(self.count)
        var slot = self.head
        while slot != -1 {
            keys.append(self.slots[slot].key)
            slot = self.slots[slot].older
        }
        return keys
    }

    private mutating func moveToHead(_ slot: Int) {
        guard slot != self.head else {
            return
        }
        self.unlink(slot)
        self.linkAtHead(slot)
    }

    private mutating func unlink(_ slot: Int) {
        let newer = self.slots[slot].newer
        let older = self.slots[slot].older
        if newer != -1 {
            self.slots[newer].older = older
        } else {
            self.head = older
        }
        if older != -1 {
            self.slots[older].newer = newer
        } else {
            self.tail = newer
        }
    }

    private mutating func linkAtHead(_ slot: Int) {
        self.slots[slot].newer = -1
        self.slots[slot].older = self.head
        if self.head != -1 {
            self.slots[self.head].newer = slot
        }
        self.head = slot
        if self.tail == -1 {
            self.tail = slot
        }
    }
}
