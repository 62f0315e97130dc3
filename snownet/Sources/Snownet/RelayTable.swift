import TURNClient

/// A node's relays in the order they were added: an array searched by ID (a node has a handful of relays), so that
/// the per-packet paths reach an allocation by position with a plain array access. In an `OrderedDictionary`, every
/// access by position went through its values view, whose `_modify` empties and restores the whole dictionary.
struct RelayTable<RelayID: Hashable & Sendable> {
    struct Entry {
        var server: TURNServer<RelayID>
        var allocation: Allocation

        var id: RelayID { self.server.id }
    }

    /// By position; IDs are unique (only ``subscript(_:)`` adds).
    var entries: [Entry] = []

    var isEmpty: Bool { self.entries.isEmpty }
    var count: Int { self.entries.count }
    var ids: [RelayID] { self.entries.map(\.id) }

    func index(of id: RelayID) -> Int? {
        self.entries.firstIndex { $0.id == id }
    }

    /// The relay with `id`; setting replaces it in place or adds it at the end, setting nil removes it.
    subscript(id: RelayID) -> Entry? {
        get {
            self.index(of: id).map { self.entries[$0] }
        }
        set {
            switch (self.index(of: id), newValue) {
            case (let index?, let entry?): self.entries[index] = entry
            case (let index?, nil): self.entries.remove(at: index)
            case (nil, let entry?): self.entries.append(entry)
            case (nil, nil): break
            }
        }
    }

    mutating func remove(_ id: RelayID) -> Entry? {
        guard let index = self.index(of: id) else {
            return nil
        }
        return self.entries.remove(at: index)
    }
}
