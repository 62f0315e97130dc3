import FirezoneTime
import HeapModule

/// The next deadline of each of many connections, so that a node with ten thousand idle connections finds the
/// due ones without asking every connection on every tick.
///
/// A deadline only ever moves earlier between two firings: moving it later (traffic pushing the idle timer out,
/// once per packet) would cost a heap insertion per packet, so the queue keeps the earlier deadline and the
/// connection, woken a little early, schedules its real next deadline then. Entries superseded by an earlier
/// one stay in the heap until they surface and are skipped; each connection has at most a handful of them.
struct DeadlineQueue<ID: Hashable> {
    private struct Entry: Comparable {
        let deadline: Instant
        /// Insertion order: equal deadlines fire in the order they were scheduled, whatever the IDs' hashes.
        let sequence: UInt64
        let id: ID

        static func < (lhs: Entry, rhs: Entry) -> Bool {
            (lhs.deadline, lhs.sequence) < (rhs.deadline, rhs.sequence)
        }

        static func == (lhs: Entry, rhs: Entry) -> Bool {
            lhs.deadline == rhs.deadline && lhs.sequence == rhs.sequence
        }
    }

    private var heap = Heap<Entry>()
    private var scheduled: [ID: Instant] = [:]
    private var sequence: UInt64 = 0

    /// The earliest deadline of any connection: the heap's minimum, kept after every change of the heap. Reading
    /// `Heap.min` allocates (a boxed entry) when the queue's `ID` is not specialized, and the node's timer asks for
    /// it on every tick, due or not.
    private(set) var earliest: Instant?

    /// Makes `id` due at `deadline` unless it is due earlier already.
    mutating func schedule(_ id: ID, at deadline: Instant) {
        if let current = self.scheduled[id], current <= deadline {
            return
        }
        self.scheduled[id] = deadline
        self.sequence += 1
        self.heap.insert(Entry(deadline: deadline, sequence: self.sequence, id: id))
        self.dropStaleMinimum()
    }

    /// Forgets `id`'s deadline.
    mutating func remove(_ id: ID) {
        self.scheduled.removeValue(forKey: id)
        self.dropStaleMinimum()
    }

    /// The next connection due at `now`, which is then unscheduled until it is scheduled again.
    mutating func popDue(now: Instant) -> ID? {
        guard let earliest = self.earliest, earliest <= now, let first = self.heap.min else {
            return nil
        }
        self.heap.removeMin()
        self.scheduled.removeValue(forKey: first.id)
        self.dropStaleMinimum()
        return first.id
    }

    /// Keeps the heap's minimum a live entry, and ``earliest`` its deadline.
    private mutating func dropStaleMinimum() {
        while let first = self.heap.min, self.scheduled[first.id] != first.deadline {
            self.heap.removeMin()
        }
        self.earliest = self.heap.min?.deadline
    }
}
