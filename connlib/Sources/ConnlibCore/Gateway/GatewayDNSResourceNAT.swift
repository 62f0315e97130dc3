import FirezoneTime
import IPPacket
import Logging
import PortalMessages

/// One client's DNS-resource NAT on a gateway: which real IP each of the client's proxy IPs stands for, and the
/// stateful ``NATTable`` that carries the flows (Firezone's rust/connlib/tunnel/src/gateway/client_on_gateway.rs,
/// `setup_nat` and `permanent_translations`).
///
/// The client announces the proxy IPs it gave a domain (the `AssignedIps` p2p control message of Firezone's rust/connlib/tunnel/src/p2p_control.rs); once the caller has checked
/// that the client may use the resource and that the domain lies under its pattern, this type asks the shell to
/// resolve the domain (``handleAssignedIPs(resource:domain:proxyAddresses:)``). The shell answers later
/// (``handleResolution(resource:domain:addresses:)``) and the answer maps the proxy IPs onto the real ones; the
/// `DomainStatus` to send back says whether that worked.
///
/// Generic over the domain name type: the NAT compares domains, never reads them.
public struct GatewayDNSResourceNAT<Domain: Hashable & Sendable & CustomStringConvertible>: Sendable {
    /// What a proxy IP stands for.
    public struct Translation: Hashable, Sendable {
        public var resource: ResourceID
        public var domain: Domain
        public var realAddress: IPAddress

        public init(resource: ResourceID, domain: Domain, realAddress: IPAddress) {
            self.resource = resource
            self.domain = domain
            self.realAddress = realAddress
        }
    }

    /// A request to the shell: resolve `domain`'s A and AAAA records, then call
    /// ``handleResolution(resource:domain:addresses:)``.
    public struct ResolveRequest: Hashable, Sendable {
        public var resource: ResourceID
        public var domain: Domain

        public init(resource: ResourceID, domain: Domain) {
            self.resource = resource
            self.domain = domain
        }
    }

    /// The `DomainStatus` to send the client once a resolution is handled (`DomainStatus`, Firezone's rust/connlib/tunnel/src/p2p_control.rs).
    public struct DomainStatus: Hashable, Sendable {
        public enum Status: Hashable, Sendable {
            case active
            case inactive
        }

        public var resource: ResourceID
        public var domain: Domain
        public var status: Status

        public init(resource: ResourceID, domain: Domain, status: Status) {
            self.resource = resource
            self.domain = domain
            self.status = status
        }
    }

    /// What ``realAddress(for:)`` finds for a proxy IP.
    public enum RealAddressLookup: Hashable, Sendable {
        case mapped(IPAddress)
        /// The client never set this proxy IP up, or its domain did not resolve.
        case noEntry
        /// The proxy IP maps onto an address of the other family, which the NAT does not translate to. The seed
        /// era maps onto the other family when the domain has no address of the proxy IP's own.
        case familyMismatch(IPAddress)
    }

    /// What ``translateOutbound(_:now:)`` did with a client's packet.
    public enum OutboundResult: Hashable, Sendable {
        /// Not to a proxy IP: no DNS-resource traffic, left untouched.
        case notProxyAddress
        /// Rewritten for the resource's real IP.
        case translated(Translation, NATTable.Outside)
        /// To a proxy IP with no usable real IP: the caller answers with ICMP network unreachable, as Firezone's
        /// `ClientOnGateway::translate_outbound` does.
        case unreachable(RealAddressLookup)
    }

    private struct DomainKey: Hashable, Sendable {
        var resource: ResourceID
        var domain: Domain
    }

    private var translations: [IPAddress: Translation] = [:]
    /// The proxy IPs of each domain being resolved, the latest the client announced.
    private var pending: [DomainKey: [IPAddress]] = [:]
    public private(set) var natTable: NATTable
    private let logger: Logger

    public init(logger: Logger, natCapacity: Int = NATConstants.maximumSessionsPerClient) {
        self.logger = logger
        self.natTable = NATTable(capacity: natCapacity)
    }

    /// Proxy IPs with a translation.
    public var count: Int {
        self.translations.count
    }

    /// What `proxy` stands for, if the client set it up.
    public func translation(for proxy: IPAddress) -> Translation? {
        self.translations[proxy]
    }

    /// The real IP that packets to `proxy` go to.
    public func realAddress(for proxy: IPAddress) -> RealAddressLookup {
        guard let translation = self.translations[proxy] else {
            return .noEntry
        }
        guard translation.realAddress.version == proxy.version else {
            return .familyMismatch(translation.realAddress)
        }
        return .mapped(translation.realAddress)
    }

    // MARK: Setup

    /// The client announced `proxyAddresses` for `domain` of `resource` (authorization and the domain's place
    /// under the resource's pattern already checked). Returns the resolution to ask the shell for, or `nil` while
    /// one for this domain is under way: the client repeats `AssignedIps` every 2 s until it hears back, and the
    /// pending request answers for the repeats, with the latest proxy IPs.
    public mutating func handleAssignedIPs(
        resource: ResourceID,
        domain: Domain,
        proxyAddresses: [IPAddress]
    ) -> ResolveRequest? {
        let key = DomainKey(resource: resource, domain: domain)
        // Firezone translates only destinations in the proxy ranges: an address outside them is not a proxy IP.
        let proxies = proxyAddresses.filter(AddressPlan.isProxyRange)
        let isResolving = self.pending[key] != nil
        guard isResolving || self.pending.count < NATConstants.maximumPendingResolutionsPerClient else {
            self.logger.debug(
                "Too many domains resolving; ignoring AssignedIps",
                metadata: ["resource": "\(resource)", "domain": "\(domain)"]
            )
            return nil
        }
        self.pending[key] = proxies
        return isResolving ? nil : ResolveRequest(resource: resource, domain: domain)
    }

    /// The shell's answer to a ``ResolveRequest``: the domain's A and AAAA addresses, or `nil` if resolution failed.
    /// Returns the `DomainStatus` to send the client, or `nil` for an answer nobody waits for any more.
    public mutating func handleResolution(
        resource: ResourceID,
        domain: Domain,
        addresses: [IPAddress]?
    ) -> DomainStatus? {
        let key = DomainKey(resource: resource, domain: domain)
        guard let proxies = self.pending.removeValue(forKey: key) else {
            return nil
        }
        // No address is a failure as much as an error is: nothing to map the proxy IPs onto.
        guard let addresses, !addresses.isEmpty else {
            self.logger.debug(
                "DNS resource domain did not resolve",
                metadata: ["resource": "\(resource)", "domain": "\(domain)"]
            )
            return DomainStatus(resource: resource, domain: domain, status: .inactive)
        }
        self.resetIfReassigned(proxies, to: key)
        self.map(proxies, onto: addresses, for: key)
        return DomainStatus(resource: resource, domain: domain, status: .active)
    }

    /// Firezone #10310: a client that signs in again numbers its DNS resources afresh, and one of the proxy IPs of
    /// this domain may have meant another domain before. Every translation and NAT session of the client is then
    /// stale: start over.
    private mutating func resetIfReassigned(_ proxies: [IPAddress], to key: DomainKey) {
        let reassigned = proxies.contains { proxy in
            guard let current = self.translations[proxy] else {
                return false
            }
            return current.resource != key.resource || current.domain != key.domain
        }
        guard reassigned else {
            return
        }
        self.logger.info(
            "Client re-assigned proxy IPs; resetting its DNS resource NAT",
            metadata: ["resource": "\(key.resource)", "domain": "\(key.domain)"]
        )
        self.translations.removeAll()
        self.natTable.removeAll()
    }

    /// Maps the proxy IPs of each family round-robin onto the resolved addresses of that family, both in ascending
    /// order so that the mapping depends only on the sets (Firezone keeps both in `BTreeSet`s). With no address of
    /// a family the seed era maps onto the other family's; such a mapping answers ICMP network unreachable.
    private mutating func map(_ proxies: [IPAddress], onto addresses: [IPAddress], for key: DomainKey) {
        let resolved = Array(Set(addresses)).sorted()
        let resolvedV4 = resolved.filter { $0.version == .v4 }
        let resolvedV6 = resolved.filter { $0.version == .v6 }
        let targetsForV4 = resolvedV4.isEmpty ? resolvedV6 : resolvedV4
        let targetsForV6 = resolvedV6.isEmpty ? resolvedV4 : resolvedV6
        var countV4 = 0
        var countV6 = 0
        for proxy in Array(Set(proxies)).sorted() {
            let real: IPAddress
            switch proxy.version {
            case .v4:
                real = targetsForV4[countV4 % targetsForV4.count]
                countV4 += 1
            case .v6:
                real = targetsForV6[countV6 % targetsForV6.count]
                countV6 += 1
            }
            // Firezone #10285: open sessions keep their real IP even if the domain now resolves elsewhere, and only
            // a real change is worth a log line.
            if let current = self.translations[proxy], current.realAddress != real,
                self.natTable.hasSessions(toProxy: proxy)
            {
                self.logger.debug(
                    "Keeping the DNS resource NAT entry: it has open NAT sessions",
                    metadata: [
                        "domain": "\(key.domain)", "proxy": "\(proxy)", "current": "\(current.realAddress)",
                        "resolved": "\(real)",
                    ]
                )
                continue
            }
            guard
                self.translations[proxy] != nil
                    || self.translations.count < NATConstants.maximumProxyAddressesPerClient
            else {
                self.logger.debug("Too many proxy IPs; ignoring the rest", metadata: ["domain": "\(key.domain)"])
                return
            }
            self.translations[proxy] = Translation(resource: key.resource, domain: key.domain, realAddress: real)
        }
    }

    // MARK: Packets

    /// Translates a client's packet to a proxy IP for its real IP. Throws when the NAT refuses the flow.
    public mutating func translateOutbound(
        _ packet: inout IPPacket,
        now: Instant
    ) throws(NATTableError) -> OutboundResult {
        let proxy = packet.destination
        guard AddressPlan.isProxyRange(proxy) else {
            return .notProxyAddress
        }
        guard let translation = self.translations[proxy] else {
            return .unreachable(.noEntry)
        }
        guard translation.realAddress.version == proxy.version else {
            return .unreachable(.familyMismatch(translation.realAddress))
        }
        let outside = try self.natTable.translateOutbound(&packet, realDestination: translation.realAddress, now: now)
        return .translated(translation, outside)
    }

    /// See ``NATTable/sessionsOpened``.
    public var sessionsOpened: UInt64 {
        self.natTable.sessionsOpened
    }

    /// Translates a packet from the resources' side back for the client (see ``NATTable/translateInbound(_:now:)``).
    public mutating func translateInbound(_ packet: inout IPPacket, now: Instant) -> NATTable.InboundResult {
        self.natTable.translateInbound(&packet, now: now)
    }

    public mutating func handleTimeout(now: Instant) {
        self.natTable.handleTimeout(now: now)
    }

    public func pollTimeout() -> (deadline: Instant, reason: StaticString)? {
        self.natTable.pollTimeout()
    }
}
