import FirezoneTime
import IPPacket
import Logging
import OrderedCollections
import PortalMessages

/// One client as a gateway sees it: the resources it may use until when, and the translation of its packets
/// (Firezone's rust/connlib/tunnel/src/peer.rs at 685acdac3a, rust/libs/connlib/tunnel-proto/src/gateway/client_on_gateway.rs
/// since).
///
/// Client → resource (``translateOutbound(_:now:)``), in order: ICMP errors from the client are dropped; the source
/// must be the client's tunnel address; the gateway's own tunnel address is let through; other tunnel addresses are
/// refused; then the destination is classified (a proxy IP by the DNS-resource NAT's translations, else the longest
/// CIDR resource prefix, else the Internet resource) and the resource's filters applied. Refusals answer with ICMP
/// administratively prohibited, a destination the Internet resource or a proxy IP cannot reach with network
/// unreachable (§5.5). Resource → client (``translateInbound(_:now:)``): packets from the gateway's tunnel address
/// pass, the DNS-resource NAT is reversed, the destination must be the client's tunnel address and the source no
/// tunnel address; ICMP errors pass, anything else must come from a resource the client may use.
public struct ClientOnGateway {
    /// What to do with a client's packet. The packet itself stays with the caller, translated in place: the verdict
    /// holds no reference to it, so that the caller's buffer stays uniquely referenced.
    public enum OutboundVerdict {
        /// Write it to the TUN device (translated if it went to a proxy IP).
        case forward
        /// Drop it and send this ICMP error back to the client.
        case reply(IPPacket, dropped: GatewayDropReason)
        case drop(GatewayDropReason)
    }

    /// What to do with a packet from the resources' side for this client; like ``OutboundVerdict``, without the packet.
    public enum InboundVerdict {
        /// Send it to the client (translated if it came from a DNS resource).
        case forward
        case drop(GatewayDropReason)
    }

    /// What a client's `AssignedIps` leads to.
    public enum AssignedIPsOutcome: Hashable, Sendable {
        /// Answer at once: the client may not use the resource, or the domain is not under its address.
        case reply(P2PControlMessage)
        /// Ask the shell to resolve the domain; its answer goes to ``handleDomainResolved(resource:domain:addresses:)``.
        case resolve(resource: ResourceID, domain: DomainName)
        /// A resolution of this domain is under way: it answers for this repeat too.
        case pending
    }

    private enum Kind {
        case cidr(IPNetwork)
        /// `nil` when the portal's address is no valid pattern: then no domain lies under it.
        case dns(DomainPattern?)
        case internet
    }

    private struct Authorization {
        var kind: Kind
        var filters: FilterEngine
        /// Unix seconds; `nil` never expires.
        var expiresAt: UInt64?
    }

    public let id: ClientID
    public let ipv4: IPv4Address
    public let ipv6: IPv6Address
    /// The gateway's own tunnel addresses, which a client may always reach (its DNS server on port 53535).
    public var gatewayInterface: GatewayInterface? {
        didSet { self.permittedFlows.removeAll() }
    }

    private var authorizations: OrderedDictionary<ResourceID, Authorization> = [:]
    /// For each authorized CIDR resource's network, the merged filters of every authorized CIDR resource covering
    /// it: the longest-prefix match of an address then gives what all CIDR resources covering the address let
    /// through, in one lookup. Rebuilt whenever an authorization or its filters change.
    private var cidrFilters = IPNetworkTable<FilterEngine>()
    /// The Internet resource's filters, when the client has it here.
    private var internetFilters: FilterEngine?
    private var dnsNAT: GatewayDNSResourceNAT<DomainName>
    /// The last CIDR or Internet resource flow let through each way; cleared with every change of what the client
    /// may reach (``rebuildRoutes()``, ``gatewayInterface``).
    private var permittedFlows = PermittedFlowCache()
    private let logger: Logger

    public init(
        id: ClientID,
        ipv4: IPv4Address,
        ipv6: IPv6Address,
        gatewayInterface: GatewayInterface?,
        logger: Logger
    ) {
        self.id = id
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.gatewayInterface = gatewayInterface
        var logger = logger
        logger[metadataKey: "client.id"] = "\(id)"
        self.logger = logger
        self.dnsNAT = GatewayDNSResourceNAT(logger: logger)
    }

    // MARK: Authorizations

    /// The resources the client may use, in the order they were first authorized.
    public var resources: [ResourceID] {
        Array(self.authorizations.keys)
    }

    public var hasResources: Bool {
        !self.authorizations.isEmpty
    }

    public func isAuthorized(_ resource: ResourceID) -> Bool {
        self.authorizations[resource] != nil
    }

    /// When the authorization of `resource` ends, in Unix seconds; nil if it never does or does not exist.
    public func expiresAt(_ resource: ResourceID) -> UInt64? {
        self.authorizations[resource]?.expiresAt
    }

    /// Lets the client use `resource` until `expiresAt` (Unix seconds, `nil` for ever), replacing an earlier
    /// authorization of the same resource.
    public mutating func allowAccess(to resource: GatewayResource, expiresAt: UInt64?) {
        let kind: Kind
        let filters: [Filter]
        switch resource {
        case .cidr(_, let network, _, let resourceFilters):
            kind = .cidr(network)
            filters = resourceFilters
        case .dns(_, let address, _, let resourceFilters):
            kind = .dns(try? DomainPattern(address))
            filters = resourceFilters
        case .internet:
            kind = .internet
            filters = []
        }
        self.authorizations[resource.id] = Authorization(
            kind: kind,
            filters: FilterEngine(filters),
            expiresAt: expiresAt
        )
        self.rebuildRoutes()
    }

    /// The portal changed a resource's filters (`resource_updated`): its type and address stay (the portal sends
    /// `reject_access` when they change).
    public mutating func updateFilters(of resource: GatewayResource) {
        guard self.authorizations[resource.id] != nil else {
            return
        }
        let filters: [Filter]
        switch resource {
        case .cidr(_, _, _, let resourceFilters), .dns(_, _, _, let resourceFilters): filters = resourceFilters
        case .internet: filters = []
        }
        self.authorizations[resource.id]!.filters = FilterEngine(filters)
        self.rebuildRoutes()
    }

    /// `access_authorization_expiry_updated`: another flow still authorizes the pair, until `expiresAt`.
    public mutating func updateExpiry(of resource: ResourceID, to expiresAt: UInt64?) {
        self.authorizations[resource]?.expiresAt = expiresAt
    }

    /// `reject_access`, or an expiry.
    public mutating func removeAccess(to resource: ResourceID) {
        guard self.authorizations.removeValue(forKey: resource) != nil else {
            return
        }
        self.logger.debug("Access removed", metadata: ["resource.id": "\(resource)"])
        self.rebuildRoutes()
    }

    /// `init`'s authorizations for this client: keeps only the listed resources, with the listed expiries.
    public mutating func retainAuthorizations(_ listedPairs: [(resource: ResourceID, expiresAt: UInt64)]) {
        var expiries: [ResourceID: UInt64] = [:]
        for (resource, expiresAt) in listedPairs {
            expiries[resource] = max(expiries[resource] ?? 0, expiresAt)
        }
        for resource in Array(self.authorizations.keys) {
            if let expiresAt = expiries[resource] {
                self.authorizations[resource]!.expiresAt = expiresAt
            } else {
                self.removeAccess(to: resource)
            }
        }
    }

    /// Removes the authorizations whose expiry is not after `unixTime` (Firezone checks them once a second).
    public mutating func removeExpired(unixTime: Duration) {
        let now = UInt64(max(0, unixTime.components.seconds))
        for (resource, authorization) in self.authorizations {
            if let expiresAt = authorization.expiresAt, expiresAt <= now {
                self.removeAccess(to: resource)
            }
        }
    }

    /// Every change of an authorization, of its filters or of the set of authorizations comes through here: the
    /// remembered verdicts go with the routes they were taken on.
    private mutating func rebuildRoutes() {
        self.permittedFlows.removeAll()
        var filtersByNetwork: OrderedDictionary<IPNetwork, [FilterEngine]> = [:]
        self.internetFilters = nil
        for authorization in self.authorizations.values {
            switch authorization.kind {
            case .cidr(let network):
                filtersByNetwork[network, default: []].append(authorization.filters)
            case .internet:
                self.internetFilters = authorization.filters
            case .dns:
                break
            }
        }
        // A network longer than an address's longest match would have matched, so the resources covering an address
        // are exactly those whose network contains its longest match. Those networks are nested; taken shortest
        // first, each one's longest match already in the table is the next wider one, whose merged filters cover
        // all the wider ones: one lookup per network.
        self.cidrFilters.removeAll()
        for network in filtersByNetwork.keys.sorted(by: { ($0.prefixLength, $0) < ($1.prefixLength, $1) }) {
            let wider = self.cidrFilters.longestMatch(for: network.address).map { [$0.value] } ?? []
            let merged = FilterEngine(merging: wider + filtersByNetwork[network, default: []])
            _ = self.cidrFilters.updateValue(merged, for: network)
        }
    }

    // MARK: DNS-resource NAT

    /// The client's `AssignedIps`: the proxy IPs it gave `domain` of `resource`.
    public mutating func handleAssignedIPs(
        resource: ResourceID,
        domain: String,
        proxyIPs: [IPAddress]
    ) -> AssignedIPsOutcome {
        let inactive = AssignedIPsOutcome.reply(.domainStatus(resource: resource, domain: domain, status: .inactive))
        guard let authorization = self.authorizations[resource], case .dns(let pattern) = authorization.kind else {
            // A resource the client may not use is answered at once, so that it stops repeating.
            return inactive
        }
        // The domain must lie under the resource's address, or a client could make the gateway resolve and reach
        // any name. connlib logs and ignores such a request; we answer inactive as for an unauthorized resource.
        guard let name = try? DomainName(domain), let pattern, pattern.contains(name) else {
            self.logger.debug("Domain is not under the resource's address", metadata: ["resource.id": "\(resource)"])
            return inactive
        }
        guard self.dnsNAT.handleAssignedIPs(resource: resource, domain: name, proxyAddresses: proxyIPs) != nil else {
            return .pending
        }
        return .resolve(resource: resource, domain: name)
    }

    /// The shell resolved `domain` (nil: resolution failed). Returns the `DomainStatus` to send the client, or nil
    /// when no resolution was waited for.
    public mutating func handleDomainResolved(
        resource: ResourceID,
        domain: DomainName,
        addresses: [IPAddress]?
    ) -> P2PControlMessage? {
        // An answer inside Firezone's own ranges would send the client's packets back into the tunnel (to another
        // client, or to a proxy IP again): such addresses are no resource's.
        let usable = addresses?.filter { !AddressPlan.isTunnelAddress($0) && !AddressPlan.isProxyRange($0) }
        guard let status = self.dnsNAT.handleResolution(resource: resource, domain: domain, addresses: usable)
        else {
            return nil
        }
        // Access may have been removed while the name was resolving.
        let authorized = self.authorizations[resource] != nil
        return .domainStatus(
            resource: resource,
            domain: domain.description,
            status: status.status == .active && authorized ? .active : .inactive
        )
    }

    // MARK: Client → resource

    /// Checks and translates a packet the client sent through the tunnel.
    public mutating func translateOutbound(_ packet: inout IPPacket, now: Instant) -> OutboundVerdict {
        if self.permittedFlows.permitsOutbound(packet) {
            return .forward
        }
        // Firezone's later gateways, stricter than 685acdac3a: ICMP errors are the network's to send; a client's could
        // probe or disturb the resources' connections.
        if packet.icmp != nil, (try? packet.icmpError()) != nil {
            return .drop(.clientICMPError)
        }
        // Anti-spoofing. Dropped without an answer (685acdac3a answered prohibited): an answer would go to an address
        // the client does not own.
        guard self.isClientAddress(packet.source) else {
            return .drop(.spoofedSource)
        }
        let destination = packet.destination
        // The gateway's own services (its DNS server on port 53535).
        if self.isGatewayAddress(destination) {
            return .forward
        }
        // Firezone's later gateways, stricter than 685acdac3a: no client ↔ client through a gateway.
        if AddressPlan.isTunnelAddress(destination) {
            return .drop(.clientToClient)
        }
        if AddressPlan.isProxyRange(destination) {
            return self.translateToProxy(&packet, now: now)
        }
        switch self.classify(destination, protocol: try? packet.destinationProtocol()) {
        case .permitted:
            self.permittedFlows.rememberOutbound(packet)
            return .forward
        case .refused(let reason):
            return .reply(Self.icmpError(for: packet, reason), dropped: reason)
        }
    }

    private mutating func translateToProxy(_ packet: inout IPPacket, now: Instant) -> OutboundVerdict {
        guard let translation = self.dnsNAT.translation(for: packet.destination) else {
            // A proxy IP the client never set up has no route (ICMP network unreachable, as Firezone).
            return .reply(Self.icmpError(for: packet, .noProxyTranslation), dropped: .noProxyTranslation)
        }
        // The resource must still be the DNS resource the proxy IP was set up for: the portal re-authorizes a
        // resource whose type changed under the same ID.
        guard let authorization = self.authorizations[translation.resource], case .dns = authorization.kind else {
            return .reply(Self.icmpError(for: packet, .notAuthorized), dropped: .notAuthorized)
        }
        guard authorization.filters.permits(packet) else {
            return .reply(Self.icmpError(for: packet, .filtered), dropped: .filtered)
        }
        do {
            switch try self.dnsNAT.translateOutbound(&packet, now: now) {
            case .translated:
                return .forward
            case .unreachable, .notProxyAddress:
                return .reply(Self.icmpError(for: packet, .noProxyTranslation), dropped: .noProxyTranslation)
            }
        } catch {
            self.logger.trace("NAT refused a flow", metadata: ["error": "\(error)"])
            return .drop(.natRefused)
        }
    }

    // MARK: Resource → client

    /// Checks and translates a packet from the resources' side addressed to this client.
    public mutating func translateInbound(_ packet: inout IPPacket, now: Instant) -> InboundVerdict {
        if self.permittedFlows.permitsInbound(packet, natSessionsOpened: self.dnsNAT.sessionsOpened) {
            return .forward
        }
        if self.isGatewayAddress(packet.source) {
            return self.isClientAddress(packet.destination) ? .forward : .drop(.unknownClient)
        }
        var fromDNSResource: ResourceID?
        switch self.dnsNAT.translateInbound(&packet, now: now) {
        case .translated(let inside), .translatedICMPError(let inside):
            fromDNSResource = self.dnsNAT.translation(for: inside.proxyAddress)?.resource
        case .expiredSession:
            return .drop(.expiredNATSession)
        case .noSession:
            break
        }
        guard self.isClientAddress(packet.destination) else {
            return .drop(.unknownClient)
        }
        guard !AddressPlan.isTunnelAddress(packet.source) else {
            return .drop(.fromTunnelAddress)
        }
        // ICMP errors about the client's packets always reach it, whatever the filters say about ICMP.
        if packet.icmp != nil, (try? packet.icmpError()) != nil {
            return .forward
        }
        let sourceProtocol = try? packet.sourceProtocol()
        // Proxy IPs are the NAT's to give out: a packet from one that did not come through the NAT would pass for a
        // DNS resource's reply, even when a CIDR resource as wide as 0.0.0.0/0 covers the address.
        if fromDNSResource == nil, AddressPlan.isProxyRange(packet.source) {
            return .drop(.unauthorizedSource)
        }
        if let fromDNSResource {
            guard let authorization = self.authorizations[fromDNSResource], case .dns = authorization.kind else {
                return .drop(.unauthorizedSource)
            }
            let permitted = sourceProtocol.map(authorization.filters.permits) ?? (authorization.filters == .permitAll)
            return permitted ? .forward : .drop(.unauthorizedSource)
        }
        switch self.classify(packet.source, protocol: sourceProtocol) {
        case .permitted:
            // Only a packet of no NAT session gets here, untranslated.
            self.permittedFlows.rememberInbound(packet, natSessionsOpened: self.dnsNAT.sessionsOpened)
            return .forward
        case .refused:
            return .drop(.unauthorizedSource)
        }
    }

    // MARK: Classification

    private enum Classification {
        case permitted
        case refused(GatewayDropReason)
    }

    /// Whether the resource's side `address` with its `protocol` (port or echo identifier; nil for other
    /// protocols) belongs to a CIDR resource or the Internet resource the client may use and passes its filters.
    /// A packet passes when any authorized
    /// resource that covers its destination permits it, not only the one with the longest prefix: a client allowed
    /// everything on 10.0.0.0/16 may reach 10.0.0.5 on any port even while a narrower 10.0.0.0/24 resource allows
    /// only ICMP (Firezone's gateway merges the filters of the resources covering an address, its
    /// rust/connlib/tunnel/src/gateway/client_on_gateway.rs), and the client, which routes by "filter permits"
    /// first, sends such a packet for the wider resource. ``rebuildRoutes()`` merged them per network beforehand.
    private func classify(_ address: IPAddress, protocol: TransportProtocol?) -> Classification {
        guard let match = self.cidrFilters.longestMatch(for: address) else {
            return self.classifyForInternet(address, protocol: `protocol`) ?? .refused(.notAuthorized)
        }
        if Self.permits(match.value, `protocol`) {
            return .permitted
        }
        // No CIDR resource lets it through: a client with the Internet resource sent it for that one, whose verdict
        // (and ICMP error) it gets.
        return self.classifyForInternet(address, protocol: `protocol`) ?? .refused(.filtered)
    }

    /// The Internet resource's verdict, or nil when the client has no Internet resource here.
    private func classifyForInternet(_ address: IPAddress, protocol: TransportProtocol?) -> Classification? {
        guard let filters = self.internetFilters else {
            return nil
        }
        guard InternetAddress.isReachable(address) else {
            return .refused(.notInternetAddress)
        }
        return Self.permits(filters, `protocol`) ? .permitted : .refused(.filtered)
    }

    private static func permits(_ filters: FilterEngine, _ protocol: TransportProtocol?) -> Bool {
        guard let `protocol` else {
            // No port or echo identifier: only a resource without filters takes it.
            return filters == .permitAll
        }
        return filters.permits(`protocol`)
    }

    private static func icmpError(for packet: IPPacket, _ reason: GatewayDropReason) -> IPPacket {
        let unreachable: DestinationUnreachableReason =
            switch reason {
            case .notInternetAddress, .noProxyTranslation: .networkUnreachable
            default: .administrativelyProhibited
            }
        return IPPacket.makeICMPDestinationUnreachable(for: packet, reason: unreachable)
    }

    /// Whether `address` is one of the client's tunnel addresses.
    public func owns(_ address: IPAddress) -> Bool {
        self.isClientAddress(address)
    }

    private func isClientAddress(_ address: IPAddress) -> Bool {
        address == .v4(self.ipv4) || address == .v6(self.ipv6)
    }

    private func isGatewayAddress(_ address: IPAddress) -> Bool {
        guard let gatewayInterface else {
            return false
        }
        return address == .v4(gatewayInterface.ipv4) || address == .v6(gatewayInterface.ipv6)
    }

    // MARK: Timers

    public mutating func handleTimeout(now: Instant) {
        self.dnsNAT.handleTimeout(now: now)
    }

    public func pollTimeout() -> (deadline: Instant, reason: StaticString)? {
        self.dnsNAT.pollTimeout()
    }
}
