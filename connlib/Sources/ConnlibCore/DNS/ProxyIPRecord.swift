import IPPacket
import PortalMessages

/// The proxy addresses the client gave one name of one DNS resource: four IPv4 ones, four IPv6 ones, or both,
/// IPv4 first. They stay the name's for the whole session, and for the next sessions of the same process.
public struct ProxyIPRecord: Hashable, Comparable, Sendable {
    public var domain: DomainName
    public var resource: ResourceID
    public var proxyIPs: [IPAddress]

    public init(domain: DomainName, resource: ResourceID, proxyIPs: [IPAddress]) {
        self.domain = domain
        self.resource = resource
        self.proxyIPs = proxyIPs
    }

    public static func < (lhs: ProxyIPRecord, rhs: ProxyIPRecord) -> Bool {
        (lhs.domain, lhs.resource) < (rhs.domain, rhs.resource)
    }
}

/// Every proxy-address record of a stub resolver, sorted by name and resource. The shell keeps the latest one and
/// hands it to the stub resolver of the next session in the same process, so that applications that cached a proxy
/// address keep reaching the same resource across a sign-out and sign-in (#10104).
public struct ProxyIPSnapshot: Hashable, Sendable {
    public let records: [ProxyIPRecord]

    public init(records: [ProxyIPRecord]) {
        self.records = records.sorted()
    }

    public static let empty = ProxyIPSnapshot(records: [])
}
