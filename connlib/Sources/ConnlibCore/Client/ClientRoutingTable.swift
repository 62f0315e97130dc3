import IPPacket
import PortalMessages

/// Where the client sends a packet for a destination: the resource that covers it (Firezone's
/// rust/connlib/tunnel/src/client.rs; later Firezone's rust/libs/connlib/tunnel-proto/src/routing_table.rs).
///
/// A CIDR resource covers its network, a DNS resource the proxy addresses its stub gave to the names it matches
/// (each a /32 or /128 carrying the resource's pattern), the Internet resource everything (0.0.0.0/0 and ::/0,
/// entered only while it is active). Among the entries covering a destination the best is the one that (1) permits
/// the packet's protocol by its filters, then (2) has the more specific DNS pattern, then (3) the longer prefix,
/// then (4) the smaller resource ID: later Firezone's order, stricter than Firezone 685acdac3a's "proxy address, then
/// longest prefix", which it contains. Of two routes for the same prefix, one whose resource already has a flow wins
/// before the resource ID decides (Firezone 685acdac3a's `recalculate_active_cidr_resources`: traffic stays on the
/// gateway it already uses instead of asking for a second flow). Lookups are cached per (destination, protocol) in an LRU of
/// ``cacheCapacity`` entries, emptied by every change to the table.
public struct ClientRoutingTable {
    /// connlib's route cache size.
    public static let cacheCapacity = 1024

    /// One resource's claim on a network.
    public struct Route {
        public var resourceID: ResourceID
        /// The DNS resource's address pattern, for routes to its proxy addresses.
        public var pattern: DomainPattern?
        /// The resource's filters; a route whose filters deny a packet still wins when no other route permits it,
        /// and the client then answers with ICMP administratively prohibited (the 2026 connlib, rust/libs/connlib/tunnel-proto/src/client.rs).
        public var filter: FilterEngine
        /// Whether the resource has a flow through a gateway.
        public var hasFlow: Bool

        public init(resourceID: ResourceID, pattern: DomainPattern? = nil, filter: FilterEngine, hasFlow: Bool = false)
        {
            self.resourceID = resourceID
            self.pattern = pattern
            self.filter = filter
            self.hasFlow = hasFlow
        }
    }

    /// The chosen route and the network through which it covers the destination.
    public struct Match {
        public var network: IPNetwork
        public var route: Route
    }

    private struct CacheKey: Hashable {
        var destination: IPAddress
        var transport: TransportProtocol?
    }

    private var routes = IPNetworkTable<[Route]>()
    /// The prefix lengths in use, longest first, per version: a lookup probes each once.
    private var lengthsV4: [UInt8] = []
    private var lengthsV6: [UInt8] = []
    private var cache = LRUCache<CacheKey, Match?>(capacity: Self.cacheCapacity)

    public init() {}

    public var isEmpty: Bool {
        self.routes.isEmpty
    }

    /// Every network with a route, in network order.
    public var networks: [IPNetwork] {
        self.routes.networks
    }

    /// How many lookups the cache holds (for tests of its bound and its invalidation).
    public var cachedLookups: Int {
        self.cache.count
    }

    /// Adds `route` for `network`, beside any other resource's route for the same network.
    public mutating func insert(_ route: Route, for network: IPNetwork) {
        self.cache.removeAll()
        var existing = self.routes[network] ?? []
        existing.removeAll { $0.resourceID == route.resourceID }
        existing.append(route)
        self.routes.updateValue(existing, for: network)
        switch network.version {
        case .v4: Self.noteLength(network.prefixLength, in: &self.lengthsV4)
        case .v6: Self.noteLength(network.prefixLength, in: &self.lengthsV6)
        }
    }

    public mutating func removeAll() {
        self = Self()
    }

    /// The best route for a packet to `destination` with destination port or ICMP identifier `transport` (nil
    /// for packets without one: they skip the filter criterion).
    public mutating func lookup(_ destination: IPAddress, transport: TransportProtocol?) -> Match? {
        let key = CacheKey(destination: destination, transport: transport)
        if let cached = self.cache.value(for: key) {
            return cached
        }
        let match = self.bestMatch(destination, transport: transport)
        self.cache.insert(match, for: key)
        return match
    }

    private func bestMatch(_ destination: IPAddress, transport: TransportProtocol?) -> Match? {
        let lengths =
            switch destination.version {
            case .v4: self.lengthsV4
            case .v6: self.lengthsV6
            }
        // A proxy address stands for a DNS resource's name: only a DNS resource's route may take it, never the
        // Internet resource's default route or a CIDR resource that happens to cover the proxy range, which would
        // send a fake address to a gateway that has no translation for it.
        let isProxy = AddressPlan.isProxyRange(destination)
        var best: Match?
        for length in lengths {
            guard let network = try? IPNetwork(masking: destination, prefixLength: length),
                let candidates = self.routes[network]
            else {
                continue
            }
            for route in candidates where !isProxy || route.pattern != nil {
                let candidate = Match(network: network, route: route)
                if let current = best, !Self.isBetter(candidate, than: current, transport: transport) {
                    continue
                }
                best = candidate
            }
        }
        return best
    }

    /// Later Firezone's order of preference between two routes covering one destination.
    static func isBetter(_ lhs: Match, than rhs: Match, transport: TransportProtocol?) -> Bool {
        if let transport {
            let lhsPermits = lhs.route.filter.permits(transport)
            let rhsPermits = rhs.route.filter.permits(transport)
            if lhsPermits != rhsPermits {
                return lhsPermits
            }
        }
        // Patterns are compared when both routes have one: a proxy address of one name can be claimed by several
        // DNS resources whose patterns match it (`app.corp.example`, `*.corp.example`).
        if let lhsPattern = lhs.route.pattern, let rhsPattern = rhs.route.pattern {
            if DomainPattern.isMoreSpecific(lhsPattern, rhsPattern) {
                return true
            }
            if DomainPattern.isMoreSpecific(rhsPattern, lhsPattern) {
                return false
            }
        }
        if lhs.network.prefixLength != rhs.network.prefixLength {
            return lhs.network.prefixLength > rhs.network.prefixLength
        }
        if lhs.route.hasFlow != rhs.route.hasFlow {
            return lhs.route.hasFlow
        }
        return lhs.route.resourceID < rhs.route.resourceID
    }

    private static func noteLength(_ length: UInt8, in lengths: inout [UInt8]) {
        guard !lengths.contains(length) else {
            return
        }
        lengths.append(length)
        lengths.sort(by: >)
    }
}
