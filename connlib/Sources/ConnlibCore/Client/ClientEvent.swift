import IPPacket
import PortalMessages

/// What the client state tells its shell besides packets and portal messages (connlib's `ClientEvent` at the
/// seed era, less the candidate and connection-intent events, which leave as ``PortalMessages/ClientOutbound``).
public enum ClientEvent: Hashable, Sendable {
    /// The resources and their status changed: the list for the status view, in the portal's order.
    case resourcesChanged([ClientResourceView])
    /// The TUN device's addresses, routes or DNS changed; the shell applies the latest value only (Firezone #10223).
    case tunInterfaceUpdated(TunConfig)
    /// No relay is usable: the shell reconnects to the portal, whose next `init` brings fresh relays (Firezone
    /// 685acdac3a has no `no_relays` message and answers `NoTurnServers` this way).
    case noRelays
    /// The stub gave a name new proxy addresses: the shell keeps the records for the next session of this process
    /// (Firezone #10104, rust/client-shared/src/eventloop.rs `DNS_RESOURCE_RECORDS_CACHE`).
    case dnsRecordsChanged(ProxyIPSnapshot)
}

/// The TUN device's configuration (connlib's `TunConfig` at the seed era).
public struct TunConfig: Hashable, Sendable {
    public var ipv4: IPv4Address
    public var ipv6: IPv6Address
    /// The networks routed into the TUN device, in network order: the CIDR resources, ``AddressPlan/clientRoutes``,
    /// the proxy addresses given to DNS resources as /32 and /128, and 0.0.0.0/0 and ::/0 while the Internet
    /// resource is active.
    public var routes: [IPNetwork]
    /// Each DNS sentinel address the operating system is pointed at, with the upstream it stands for.
    public var dnsBySentinel: [DNSSentinel]
    public var searchDomain: String?

    public init(
        ipv4: IPv4Address,
        ipv6: IPv6Address,
        routes: [IPNetwork],
        dnsBySentinel: [DNSSentinel],
        searchDomain: String?
    ) {
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.routes = routes
        self.dnsBySentinel = dnsBySentinel
        self.searchDomain = searchDomain
    }
}

/// A DNS sentinel address and the upstream resolver behind it.
public struct DNSSentinel: Hashable, Sendable {
    public var sentinel: IPAddress
    public var upstream: IPSocketAddress

    public init(sentinel: IPAddress, upstream: IPSocketAddress) {
        self.sentinel = sentinel
        self.upstream = upstream
    }
}

/// One resource as the status view shows it.
public struct ClientResourceView: Hashable, Sendable {
    public var resource: ClientResource
    public var status: ResourceStatus
    /// For the Internet resource: whether it routes traffic now.
    public var isActive: Bool

    public init(resource: ClientResource, status: ResourceStatus, isActive: Bool) {
        self.resource = resource
        self.status = status
        self.isActive = isActive
    }
}

/// Whether a resource's sites are reachable, as far as the client knows (connlib's `ResourceStatus`).
public enum ResourceStatus: Hashable, Sendable {
    /// No connection to any of its sites was tried yet, or the last ones closed.
    case unknown
    /// A gateway of one of its sites is connected.
    case online
    /// The portal answered `flow_creation_failed` with `offline`: no gateway of its sites is online. The seed era
    /// keeps the mark until a connection to one of the sites succeeds (no 5-minute reset).
    case offline
}
