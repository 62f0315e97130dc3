import IPPacket
import NIOCore
import PortalMessages

/// The client's DNS stub resolver (Firezone's rust/connlib/tunnel/src/dns.rs): the operating system sends every
/// query to a sentinel address, one per upstream resolver; the stub answers the names of DNS resources itself with
/// proxy addresses and passes everything else on. Sans-IO: it gets a query's bytes and returns a decision; the
/// caller does the sending.
public struct StubResolver: Sendable {
    /// DNS resources from the most to the least specific pattern, ties by resource id: the first match wins.
    private var dnsResources: [DNSResourceEntry] = []
    /// CIDR resources and whether the Internet resource is active: they decide which upstreams the tunnel reaches.
    private var cidrResources: [IPNetwork] = []
    private var internetResourceActive = false

    /// Sentinel address → upstream, in upstream order.
    private var upstreamsBySentinel: [IPAddress: DNSUpstream] = [:]
    private var sentinelList: [(sentinel: IPAddress, upstream: DNSUpstream)] = []

    private var proxyIPsByName: [NameAndResource: [IPAddress]] = [:]
    private var nameByProxyIP: [IPAddress: NameAndResource] = [:]
    private var allocator: ProxyIPAllocator

    private struct DNSResourceEntry: Sendable {
        var pattern: DomainPattern
        var id: ResourceID
        var ipStack: ResourceIPStack
    }

    private struct NameAndResource: Hashable, Comparable, Sendable {
        var domain: DomainName
        var resource: ResourceID

        static func < (lhs: NameAndResource, rhs: NameAndResource) -> Bool {
            (lhs.domain, lhs.resource) < (rhs.domain, rhs.resource)
        }
    }

    /// A stub resolver that keeps the proxy addresses of `records`, from an earlier session of this process.
    public init(records: ProxyIPSnapshot = .empty) {
        for record in records.records {
            let key = NameAndResource(domain: record.domain, resource: record.resource)
            self.proxyIPsByName[key] = record.proxyIPs
            for address in record.proxyIPs {
                self.nameByProxyIP[address] = key
            }
        }
        self.allocator = ProxyIPAllocator(after: records.records.lazy.flatMap(\.proxyIPs))
    }

    // MARK: Configuration

    /// Sets the active resources. DNS resources whose address is not a valid pattern are skipped and returned.
    @discardableResult
    public mutating func setResources(_ resources: [ClientResource]) -> [ResourceID] {
        var dnsResources: [DNSResourceEntry] = []
        var cidrResources: [IPNetwork] = []
        var invalid: [ResourceID] = []
        var internetResourceActive = false
        for resource in resources {
            switch resource {
            case .dns(let dns):
                do {
                    let pattern = try DomainPattern(dns.address)
                    dnsResources.append(
                        DNSResourceEntry(pattern: pattern, id: dns.id, ipStack: ResourceIPStack(portal: dns.ipStack))
                    )
                } catch {
                    invalid.append(dns.id)
                }
            case .cidr(let cidr):
                cidrResources.append(cidr.address)
            case .internet:
                internetResourceActive = true
            }
        }
        dnsResources.sort { ($0.pattern, $0.id) < ($1.pattern, $1.id) }
        self.dnsResources = dnsResources
        self.cidrResources = cidrResources
        self.internetResourceActive = internetResourceActive
        return invalid
    }

    /// Maps one sentinel to each upstream: the portal's `upstream_dns` when it has any, else the system's
    /// resolvers (minus our own sentinels, which the system reports once it is pointed at them). IPv4 upstreams get
    /// 100.100.111.1, .2, …; IPv6 ones fd00:2021:1111:8000:100:100:111:1, :2, …. Returns the sentinels in upstream
    /// order: the addresses to configure as the system's resolvers.
    @discardableResult
    public mutating func setUpstreams(portal: [UpstreamDNS], system: [IPSocketAddress]) -> [IPAddress] {
        var upstreams: [DNSUpstream] = portal.map {
            switch $0 {
            case .ipPort(let address): DNSUpstream(address: address, fromPortal: true)
            }
        }
        if upstreams.isEmpty {
            upstreams = system.filter { !AddressPlan.isSentinel($0.address) }.map {
                DNSUpstream(address: $0, fromPortal: false)
            }
        }
        var list: [(sentinel: IPAddress, upstream: DNSUpstream)] = []
        var nextV4: UInt64 = 1
        var nextV6: UInt64 = 1
        for upstream in upstreams {
            let sentinel: IPAddress?
            switch upstream.address.address {
            case .v4:
                sentinel = AddressPlan.sentinelV4.address(at: nextV4)
                nextV4 += 1
            case .v6:
                sentinel = AddressPlan.sentinelV6.address(at: nextV6)
                nextV6 += 1
            }
            guard let sentinel, AddressPlan.isSentinel(sentinel) else {
                continue
            }
            list.append((sentinel, upstream))
        }
        self.sentinelList = list
        self.upstreamsBySentinel = Dictionary(list.map { ($0.sentinel, $0.upstream) }, uniquingKeysWith: { a, _ in a })
        return list.map(\.sentinel)
    }

    /// The sentinels and their upstreams, in upstream order.
    public var sentinels: [(sentinel: IPAddress, upstream: DNSUpstream)] {
        self.sentinelList
    }

    public func upstream(forSentinel sentinel: IPAddress) -> DNSUpstream? {
        self.upstreamsBySentinel[sentinel]
    }

    // MARK: Queries

    /// Decides what to do with a query the operating system sent to `sentinel`: one UDP payload or one message of a
    /// TCP stream (without its length prefix).
    public mutating func handleQuery(_ bytes: ByteBuffer, sentinel: IPAddress) -> StubResolverDecision {
        guard let upstream = self.upstreamsBySentinel[sentinel] else {
            return .drop(.noUpstream)
        }
        let query: DNSMessage
        do {
            query = try DNSMessage(parsingQuery: bytes)
        } catch .invalidName {
            // A name no DNS resource can have (a space, a byte above ASCII): the upstream may still know it.
            return self.recurse(bytes, to: upstream)
        } catch {
            return .drop(.malformedQuery(error))
        }
        guard query.opcode == 0, let question = query.question, question.class == .internet else {
            return self.recurse(bytes, to: upstream)
        }
        if question.name == DNSConstants.dohCanaryDomain {
            return .answer(query.makeResponse(code: .nameError), resolved: nil)
        }
        let resource = self.matchResource(question.name)
        switch (question.type, resource) {
        case (.a, let resource?), (.aaaa, let resource?):
            let (record, newlyAssigned) = self.proxyIPs(for: question.name, resource: resource)
            let family: IPVersion = question.type == .a ? .v4 : .v6
            let answers = record.proxyIPs.filter { $0.version == family }.map { DNSAnswer.address($0) }
            let response = query.makeResponse(code: .noError, answers: answers, ttl: DNSConstants.resourceAnswerTTL)
            return .answer(response, resolved: ResolvedResourceName(record: record, newlyAssigned: newlyAssigned))
        case (.srv, let resource?), (.txt, let resource?):
            // Only the resource's site can resolve these: the gateway's DNS server on port 53535 forwards them.
            return .forwardToGateway(resource: resource.id, query: bytes)
        case (.https, .some):
            // An HTTPS record may carry address hints the proxy addresses would not cover (RFC 9460 §7.3): an
            // empty answer makes the application ask for A and AAAA.
            return .answer(query.makeResponse(code: .noError), resolved: nil)
        case (.ptr, _):
            guard let address = ReverseDNSName.address(of: question.name), let owner = self.nameByProxyIP[address]
            else {
                return self.recurse(bytes, to: upstream)
            }
            let response = query.makeResponse(
                code: .noError,
                answers: [.pointer(owner.domain)],
                ttl: DNSConstants.resourceAnswerTTL
            )
            return .answer(response, resolved: nil)
        default:
            return self.recurse(bytes, to: upstream)
        }
    }

    /// What to answer when the upstream of `query` failed: nothing after a timeout, SERVFAIL otherwise (Firezone's
    /// rust/connlib/tunnel/src/client.rs). Nil also when `query` is not a query.
    public static func responseToUpstreamFailure(query: ByteBuffer, _ failure: DNSUpstreamFailure) -> ByteBuffer? {
        switch failure {
        case .timedOut:
            return nil
        case .failed:
            return (try? DNSMessage(parsingQuery: query))?.makeServerFailure()
        }
    }

    // MARK: Proxy addresses

    /// The name and resource a proxy address was handed out for: what routes a packet to a proxy address.
    public func resolveProxyIP(_ address: IPAddress) -> (domain: DomainName, resource: ResourceID)? {
        self.nameByProxyIP[address].map { ($0.domain, $0.resource) }
    }

    /// Every record, to keep for the next session of this process.
    public var records: ProxyIPSnapshot {
        ProxyIPSnapshot(
            records: self.proxyIPsByName.keys.sorted().map {
                ProxyIPRecord(domain: $0.domain, resource: $0.resource, proxyIPs: self.proxyIPsByName[$0] ?? [])
            }
        )
    }

    /// The most specific DNS resource whose pattern matches `name`.
    public func resource(for name: DomainName) -> ResourceID? {
        self.matchResource(name)?.id
    }

    private func matchResource(_ name: DomainName) -> DNSResourceEntry? {
        self.dnsResources.first { $0.pattern.matches(name) }
    }

    private mutating func proxyIPs(for name: DomainName, resource: DNSResourceEntry) -> (ProxyIPRecord, Bool) {
        let key = NameAndResource(domain: name, resource: resource.id)
        if let existing = self.proxyIPsByName[key] {
            return (ProxyIPRecord(domain: name, resource: resource.id, proxyIPs: existing), false)
        }
        var addresses: [IPAddress] = []
        addresses.reserveCapacity(2 * DNSConstants.proxyAddressesPerFamily)
        if resource.ipStack.hasIPv4 {
            addresses += self.allocator.nextIPv4(DNSConstants.proxyAddressesPerFamily)
        }
        if resource.ipStack.hasIPv6 {
            addresses += self.allocator.nextIPv6(DNSConstants.proxyAddressesPerFamily)
        }
        self.proxyIPsByName[key] = addresses
        for address in addresses {
            self.nameByProxyIP[address] = key
        }
        return (ProxyIPRecord(domain: name, resource: resource.id, proxyIPs: addresses), true)
    }

    /// Through the tunnel when the portal configured the upstream and the Internet resource is active or a CIDR
    /// resource covers the upstream's address (Firezone 685acdac3a, rust/connlib/tunnel/src/client.rs); the client
    /// judges the query by that resource's filters before it sends it.
    private func recurse(_ bytes: ByteBuffer, to upstream: DNSUpstream) -> StubResolverDecision {
        let viaTunnel =
            upstream.fromPortal
            && (self.internetResourceActive || self.cidrResources.contains { $0.contains(upstream.address.address) })
        return .recurse(upstream: upstream.address, query: bytes, viaTunnel: viaTunnel)
    }
}

/// What the caller does with a query.
public enum StubResolverDecision: Sendable {
    /// Send these bytes back to the application (as a UDP payload, or framed on its TCP stream).
    case answer(ByteBuffer, resolved: ResolvedResourceName?)
    /// Send the query through the tunnel to the DNS server of the gateway that serves `resource`
    /// (`<gateway tunnel address>:53535`), authorizing the resource first if needed.
    case forwardToGateway(resource: ResourceID, query: ByteBuffer)
    /// Send the query to `upstream`: through the tunnel if `viaTunnel`, else from the host.
    case recurse(upstream: IPSocketAddress, query: ByteBuffer, viaTunnel: Bool)
    /// Answer nothing.
    case drop(StubResolverDropReason)
}

public enum StubResolverDropReason: Hashable, Sendable {
    /// The query reached a sentinel that stands for no upstream (the upstreams changed).
    case noUpstream
    case malformedQuery(DNSMessageError)
}

/// An A or AAAA answer for the name of a DNS resource: the client routes the proxy addresses (`/32` and `/128`)
/// to the resource, and tells the gateway about them.
public struct ResolvedResourceName: Hashable, Sendable {
    public var record: ProxyIPRecord
    /// Whether this answer assigned the addresses (the first query for the name in this process).
    public var newlyAssigned: Bool

    public init(record: ProxyIPRecord, newlyAssigned: Bool) {
        self.record = record
        self.newlyAssigned = newlyAssigned
    }
}
