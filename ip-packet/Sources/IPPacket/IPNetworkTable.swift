/// Values keyed by IP network, looked up by address with longest-prefix match (RFC 1812 §5.2.4.3): of the
/// networks that contain an address, the one with the longest prefix wins. This is WireGuard's cryptokey routing
/// table (the WireGuard paper, §2: AllowedIPs) and how routes and CIDR resources are chosen.
///
/// The networks of each prefix length are kept in one hash table, and a lookup probes the lengths in use from the
/// longest down: at most 33 probes for IPv4 and 129 for IPv6, and as many as there are distinct lengths in
/// practice. Hash order never shows: ``entries`` is in network order (``IPNetwork/<``).
public struct IPNetworkTable<Value> {
    private var valueByNetwork: [IPNetwork: Value] = [:]
    /// How many networks of each prefix length the table holds, per version; index = prefix length.
    private var networksPerLengthV4 = [Int](repeating: 0, count: 33)
    private var networksPerLengthV6 = [Int](repeating: 0, count: 129)
    /// The prefix lengths in use, longest first, per version.
    private var lengthsV4: [UInt8] = []
    private var lengthsV6: [UInt8] = []

    public init() {}

    /// A table of `entries`; of two entries for one network, the later one stays.
    public init(_ entries: some Sequence<(IPNetwork, Value)>) {
        for (network, value) in entries {
            self.updateValue(value, for: network)
        }
    }

    public var count: Int {
        self.valueByNetwork.count
    }

    public var isEmpty: Bool {
        self.valueByNetwork.isEmpty
    }

    /// The value stored for exactly `network`, not a longest-prefix match; setting `nil` removes it.
    public subscript(network: IPNetwork) -> Value? {
        get {
            self.valueByNetwork[network]
        }
        set {
            if let newValue {
                self.updateValue(newValue, for: network)
            } else {
                self.removeValue(for: network)
            }
        }
    }

    /// Stores `value` for `network`; returns the value it replaces.
    @discardableResult
    public mutating func updateValue(_ value: Value, for network: IPNetwork) -> Value? {
        let previous = self.valueByNetwork.updateValue(value, forKey: network)
        if previous == nil {
            self.adjustCount(of: network, by: 1)
        }
        return previous
    }

    /// Removes `network` (exactly that network, not those it contains); returns its value.
    @discardableResult
    public mutating func removeValue(for network: IPNetwork) -> Value? {
        let removed = self.valueByNetwork.removeValue(forKey: network)
        if removed != nil {
            self.adjustCount(of: network, by: -1)
        }
        return removed
    }

    public mutating func removeAll() {
        self = Self()
    }

    /// The most specific network containing `address`, with its value; `nil` if no network does.
    public func longestMatch(for address: IPAddress) -> (network: IPNetwork, value: Value)? {
        let lengths =
            switch address.version {
            case .v4: self.lengthsV4
            case .v6: self.lengthsV6
            }
        for length in lengths {
            let network = IPNetwork(unchecked: IPNetwork.masked(address, prefixLength: length), prefixLength: length)
            if let value = self.valueByNetwork[network] {
                return (network, value)
            }
        }
        return nil
    }

    /// Every network and its value, IPv4 first, by address, then shorter prefixes first.
    public var entries: [(network: IPNetwork, value: Value)] {
        self.valueByNetwork.sorted { $0.key < $1.key }.map { (network: $0.key, value: $0.value) }
    }

    /// Every network, in the order of ``entries``.
    public var networks: [IPNetwork] {
        self.valueByNetwork.keys.sorted()
    }

    private mutating func adjustCount(of network: IPNetwork, by change: Int) {
        let length = network.prefixLength
        switch network.version {
        case .v4:
            Self.adjust(&self.networksPerLengthV4, &self.lengthsV4, length, by: change)
        case .v6:
            Self.adjust(&self.networksPerLengthV6, &self.lengthsV6, length, by: change)
        }
    }

    private static func adjust(_ counts: inout [Int], _ lengths: inout [UInt8], _ length: UInt8, by change: Int) {
        let index = Int(length)
        let before = counts[index]
        counts[index] += change
        if before == 0 {
            lengths.append(length)
            lengths.sort(by: >)
        } else if counts[index] == 0 {
            lengths.removeAll { $0 == length }
        }
    }
}

extension IPNetworkTable: Sendable where Value: Sendable {}

extension IPNetworkTable: Equatable where Value: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.valueByNetwork == rhs.valueByNetwork
    }
}
