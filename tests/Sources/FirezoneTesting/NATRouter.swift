import FirezoneTime
import IPPacket

/// The state of one simulated NAT router: its mappings, kept in creation order so that every lookup and
/// expiry is deterministic.
struct NATRouter {
    struct Mapping {
        var `internal`: IPSocketAddress
        var external: IPSocketAddress
        /// The destination whose datagram created the mapping; it keys the mapping unless mapping is
        /// endpoint-independent.
        var remote: IPSocketAddress
        /// Every remote the internal socket sent to through this mapping, for filtering.
        var contacted: [IPSocketAddress]
        var refreshed: Instant
    }

    enum Inbound: Equatable {
        case translated(IPSocketAddress)
        case noMapping
        case filtered
    }

    let name: String
    let publicAddresses: [IPAddress]
    let configuration: NATConfiguration
    private(set) var mappings: [Mapping] = []
    private var nextPort: UInt16

    init(name: String, publicAddresses: [IPAddress], configuration: NATConfiguration) {
        self.name = name
        self.publicAddresses = publicAddresses
        self.configuration = configuration
        self.nextPort = configuration.firstPort
    }

    /// The external source of a datagram from `source` to `destination`, creating or refreshing its mapping;
    /// nil when the router has no public address of the datagram's family or no free port.
    mutating func translateOutbound(
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    )
        -> IPSocketAddress?
    {
        self.expire(now: now)
        if let index = self.mappings.firstIndex(where: { self.keys($0, source: source, destination: destination) }) {
            self.mappings[index].refreshed = now
            if !self.mappings[index].contacted.contains(destination) {
                self.mappings[index].contacted.append(destination)
            }
            return self.mappings[index].external
        }
        guard let address = self.publicAddresses.first(where: { $0.version == destination.address.version }),
            let port = self.allocatePort(on: address)
        else {
            return nil
        }
        let external = IPSocketAddress(address, port: port)
        self.mappings.append(
            Mapping(internal: source, external: external, remote: destination, contacted: [destination], refreshed: now)
        )
        return external
    }

    /// Where a datagram from `source` to the router's `destination` goes.
    mutating func translateInbound(
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    )
        -> Inbound
    {
        self.expire(now: now)
        guard let index = self.mappings.firstIndex(where: { $0.external == destination }) else {
            return .noMapping
        }
        let mapping = self.mappings[index]
        let permitted: Bool
        switch self.configuration.filtering {
        case .endpointIndependent:
            permitted = true
        case .addressDependent:
            permitted = mapping.contacted.contains { $0.address == source.address }
        case .addressAndPortDependent:
            permitted = mapping.contacted.contains(source)
        }
        guard permitted else {
            return .filtered
        }
        if self.configuration.inboundRefresh {
            self.mappings[index].refreshed = now
        }
        return .translated(mapping.internal)
    }

    private func keys(_ mapping: Mapping, source: IPSocketAddress, destination: IPSocketAddress) -> Bool {
        guard mapping.internal == source else {
            return false
        }
        switch self.configuration.mapping {
        case .endpointIndependent: return mapping.remote.address.version == destination.address.version
        case .addressDependent: return mapping.remote.address == destination.address
        case .addressAndPortDependent: return mapping.remote == destination
        }
    }

    /// RFC 4787 §4.3: a mapping idle for the timeout is gone, and so is everything its filter let in.
    private mutating func expire(now: Instant) {
        self.mappings.removeAll { now >= $0.refreshed + self.configuration.mappingTimeout }
    }

    /// The next port from ``NATConfiguration/firstPort`` upwards that no live mapping on `address` uses.
    private mutating func allocatePort(on address: IPAddress) -> UInt16? {
        let first = Int(self.configuration.firstPort)
        let count = Int(UInt16.max) - first + 1
        for _ in 0..<count {
            let port = self.nextPort
            self.nextPort = port == .max ? self.configuration.firstPort : port + 1
            if !self.mappings.contains(where: { $0.external.address == address && $0.external.port == port }) {
                return port
            }
        }
        return nil
    }
}
