import ConnlibCore
import IPPacket
import PortalMessages

/// The reference model of the whole tunnel: what the portal knows, what the client and each gateway believe, and for
/// every action what the client's application must see (Firezone's rust/connlib/tunnel/src/tests/reference.rs has
/// the same role). It holds no state machine: its rules are Firezone's (the client's rust/connlib/tunnel/src/client.rs,
/// the gateway's gateway.rs and peer.rs), restated as plainly as possible, so that a system under test that breaks
/// one of them disagrees with it.
///
/// Where Firezone 685acdac3a and its later connlib (rust/libs/connlib/tunnel-proto) differ, the model takes the later,
/// stricter behaviour inside a component (client-side filters, routing by "filter permits" first, the gateway refusing
/// private destinations through the Internet resource, a new flow when a gateway answers ICMP prohibited), as the
/// project's precedence rules ask; the portal protocol is 685acdac3a's.
struct TunnelModel {
    init(clientAppliesFilters: Bool = true) {
        self.clientAppliesFilters = clientAppliesFilters
    }

    struct Resource {
        let slot: Int
        var sites: TunnelSequence.Sites
        var filters: Int
        /// Whether the client's policies allow it: only allowed resources are listed to the client.
        var allowed: Bool

        var id: ResourceID { TunnelWorld.slots[self.slot].id }
        var address: TunnelWorld.Address { TunnelWorld.slots[self.slot].address }
        var filter: FilterEngine { FilterEngine(TunnelWorld.filterSets[self.filters]) }

        var gateways: [Int] {
            switch self.sites {
            case .a: [0]
            case .b: [1]
            case .both: [0, 1]
            }
        }

        var clientResource: ClientResource {
            TunnelWorld.resource(
                slot: self.slot,
                sites: self.gateways.map { TunnelWorld.sites[$0] },
                filters: TunnelWorld.filterSets[self.filters]
            )
        }
    }

    /// A flow as one side knows it: the resource, the gateway, (on the gateway) the filters it was told, and how
    /// many `.expireFlows` end it: one, or two once the portal extended it (its new expiry lies past the next).
    struct Flow: Equatable {
        let resource: ResourceID
        let gateway: Int
        var filters: Int
        var expiries = 1
    }

    struct ProxyKey: Hashable {
        let name: DomainName
        let resource: ResourceID
        let version: IPVersion
    }

    /// What the system under test must show for an action.
    enum Expectation: Equatable {
        case exactly(TunnelObservation)
        /// The stub resolver's answer for a name of a DNS resource: four proxy addresses of the family, the same
        /// ones every time for the pair (name, resource) within the process (Firezone #10104 keeps them across
        /// sessions), none shared with another pair. The first answer teaches the model the addresses.
        case proxyIPs(ProxyKey)
    }

    /// Whether the client applies a resource's filters itself (Firezone's later connlib, the model's default) or
    /// leaves them to the gateway, as connlib at 685acdac3a does: it routes by the longest prefix alone, and the
    /// gateway judges a packet by the filters of the longest authorized prefix that covers its destination.
    let clientAppliesFilters: Bool

    /// The portal's resources, in slot order.
    private(set) var resources: [Resource] = []
    private(set) var internetResourceActive = false
    /// Whether the portal configured ``TunnelWorld/tunnelledDNS`` as the client's upstream.
    private(set) var portalUpstream = false
    private(set) var gatewayOnline = [true, true]
    /// Flows the client holds (resource → gateway).
    private(set) var clientFlows: [Flow] = []
    /// Authorizations each gateway holds for the client, with the filters it was last told.
    private(set) var gatewayFlows: [Flow] = []
    /// The gateways the client connected to in this session, which `create_flow` names.
    private var recentGateways: [Int] = []
    /// The portal's flows: what a gateway's `init` re-syncs its authorizations to.
    private(set) var portalFlows: [Flow] = []
    /// Proxy addresses the client's DNS has handed out, in the order they were learnt.
    private(set) var proxyIPs: [(key: ProxyKey, addresses: [IPAddress])] = []
    /// Answers given in this session since their resource was (re)added: only their proxy addresses are routed.
    private var answered: [ProxyKey] = []
    /// The client's DNS-resource NAT (rust/connlib/tunnel/src/client/dns_resource_nat.rs): per gateway, name and
    /// resource, whether the gateway mapped the name (`DomainStatus` active) or could not resolve it.
    private var dnsResourceNAT: [(gateway: Int, name: DomainName, resource: ResourceID, mapped: Bool)] = []

    // MARK: Steps to actions

    /// What the system under test must do for `step` in the current state; `nil` when the step has nothing to act on
    /// (a probe to a name not answered yet, a removal of a resource that is not there, a gateway already so).
    func resolve(_ step: TunnelSequence.Step) -> TunnelAction? {
        switch step {
        case .upsert(let slot, let sites, let filters):
            let resource = Resource(slot: slot, sites: sites, filters: filters, allowed: true)
            return .upsertResource(resource.clientResource, allowed: true)
        case .revoke(let slot):
            guard let existing = self.resource(slot: slot), existing.allowed else {
                return nil
            }
            return .upsertResource(existing.clientResource, allowed: false)
        case .remove(let slot):
            return self.resource(slot: slot).map { .deleteResource($0.id) }
        case .setInternetResourceActive(let active):
            return .setInternetResourceActive(active)
        case .send(let target, let probe):
            return self.destination(of: target).map { destination in
                switch probe {
                case .icmpEcho: .send(destination: destination, .icmpEcho(identifier: 0x4242))
                case .udp(let port): .send(destination: destination, .udp(port: port))
                case .tcp(let port): .send(destination: destination, .tcp(port: port))
                }
            }
        case .query(let index, let ipv6, let tcp):
            return .query(TunnelWorld.names[index].name, ipv6: ipv6, tcp: tcp)
        case .reverseQuery(.address(let index)):
            return .reverseQuery(TunnelWorld.targets[index])
        case .reverseQuery(.name(let index, let ipv6)):
            let name = TunnelWorld.names[index].name
            let version: IPVersion = ipv6 ? .v6 : .v4
            return self.proxyIPs.first { $0.key.name == name && $0.key.version == version }
                .map { .reverseQuery($0.addresses[0]) }
        case .recordQuery(let index, let txt):
            return .recordQuery(TunnelWorld.names[index].name, txt ? .txt : .srv)
        case .llmnr(let index):
            return .llmnrQuery(TunnelWorld.names[index].name)
        case .setPortalUpstream(let set):
            return self.portalUpstream == set ? nil : .setPortalUpstream(set)
        case .expireFlows:
            return .expireFlows
        case .extendFlows:
            return .extendFlows
        case .restartGateway(let index):
            return .restartGateway(TunnelWorld.gateways[index])
        case .setGatewayOnline(let index, let online):
            return self.gatewayOnline[index] == online ? nil : .setGatewayOnline(TunnelWorld.gateways[index], online)
        case .restartClient:
            return .restartClient
        case .connectionFailure:
            return .connectionFailure
        case .roam:
            return .roam
        case .idle(let seconds):
            return .idle(.seconds(seconds))
        }
    }

    /// Applies `action` to the model and returns what the client's application must see.
    mutating func expect(_ action: TunnelAction) -> Expectation {
        switch action {
        case .upsertResource(let resource, let allowed):
            self.upsert(resource, allowed: allowed)
            return .exactly(.nothing)
        case .deleteResource(let id):
            if let index = self.resources.firstIndex(where: { $0.id == id }) {
                self.resources.remove(at: index)
                self.endFlows(of: id)
            }
            return .exactly(.nothing)
        case .setInternetResourceActive(let active):
            self.internetResourceActive = active
            return .exactly(.nothing)
        case .send(let destination, let transport):
            return .exactly(self.send(to: destination, transport))
        case .query(let name, let ipv6, _):
            return self.query(name, ipv6 ? .v6 : .v4)
        case .reverseQuery(let address):
            // The stub answers for the proxy addresses it handed out in this process (they outlive the session,
            // Firezone #10104); any other address goes to the upstream, which knows no reverse names.
            if let entry = self.proxyIPs.first(where: { $0.addresses.contains(address) }) {
                return .exactly(.answer(.names([entry.key.name])))
            }
            return .exactly(self.recursed(.nxdomain))
        case .recordQuery(let name, let type):
            return .exactly(self.recordQuery(name, type))
        case .setPortalUpstream(let set):
            self.portalUpstream = set
        case .llmnrQuery(let name):
            // The client answers LLMNR for the names of DNS resources as its stub would, and stays silent for every
            // other name (connlib's `drop_llmnr_nxdomain_responses`).
            guard self.dnsResource(for: name) != nil else {
                return .exactly(.nothing)
            }
            return self.query(name, .v4)
        case .expireFlows:
            // Every gateway evicts an authorization at its expiry by itself (rust/connlib/tunnel/src/peer.rs checks
            // every second), online or not; a gateway left without any sends `goodbye`, and the client forgets the
            // flows through it.
            for index in self.portalFlows.indices {
                self.portalFlows[index].expiries -= 1
            }
            self.portalFlows.removeAll { $0.expiries <= 0 }
            for index in self.gatewayFlows.indices {
                self.gatewayFlows[index].expiries -= 1
            }
            self.gatewayFlows.removeAll { $0.expiries <= 0 }
            for gateway in TunnelWorld.gateways.indices
            where !self.gatewayFlows.contains(where: { $0.gateway == gateway }) {
                self.forgetConnections(to: gateway)
            }
        case .extendFlows:
            // `access_authorization_expiry_updated` reaches the online gateways; an offline one learns the new
            // expiry from the `init` it gets when it rejoins.
            for index in self.portalFlows.indices {
                self.portalFlows[index].expiries = 2
            }
            for index in self.gatewayFlows.indices where self.gatewayOnline[self.gatewayFlows[index].gateway] {
                let flow = self.gatewayFlows[index]
                if self.portalFlows.contains(where: { $0.resource == flow.resource && $0.gateway == flow.gateway }) {
                    self.gatewayFlows[index].expiries = 2
                }
            }
        case .restartGateway(let id):
            // A new process: no authorizations until flows are authorized again; the client's connection to it
            // fails and takes the client's flows through it along (rust/connlib/tunnel/src/client.rs,
            // `on_connection_failed`).
            let index = Self.gatewayIndex(id)
            self.gatewayFlows.removeAll { $0.gateway == index }
            self.forgetConnections(to: index)
            self.gatewayOnline[index] = true
        case .setGatewayOnline(let id, let online):
            let gateway = Self.gatewayIndex(id)
            self.gatewayOnline[gateway] = online
            if online {
                self.resync(gateway)
            }
        case .restartClient:
            // A new session: no connections, no routes to proxy addresses until asked again; the records of the
            // last session stay (Firezone #10104).
            self.forgetConnections()
            self.recentGateways.removeAll()
            self.answered.removeAll()
        case .connectionFailure, .roam:
            // The client forgets the flows through failed connections; gateways keep their authorizations
            // (Firezone #10040). Roaming resets the client, which closes every connection (seed era: `reset`
            // closes all connections and rotates the key).
            self.forgetConnections()
        case .idle:
            break
        }
        return .exactly(.nothing)
    }

    static func gatewayIndex(_ id: GatewayID) -> Int {
        TunnelWorld.gateways.firstIndex(of: id)!
    }

    // MARK: Checking observations

    /// Compares what the system under test showed with the expectation; `nil` when they agree. A first proxy
    /// answer for a pair is learnt here.
    mutating func check(_ observed: TunnelObservation, against expectation: Expectation) -> String? {
        switch expectation {
        case .exactly(let expected):
            return observed == expected ? nil : "expected \(expected), observed \(observed)"
        case .proxyIPs(let key):
            guard case .answer(.addresses(let addresses)) = observed else {
                return "expected proxy addresses for \(key.name) (\(key.resource)), observed \(observed)"
            }
            let range = key.version == .v4 ? AddressPlan.proxyV4 : AddressPlan.proxyV6
            guard addresses.count == 4, Set(addresses).count == 4, addresses.allSatisfy(range.contains) else {
                return "expected four distinct proxy addresses in \(range) for \(key.name), observed \(addresses)"
            }
            if let known = self.proxyIPs.first(where: { $0.key == key }) {
                return Set(known.addresses) == Set(addresses)
                    ? nil : "proxy addresses of \(key.name) changed from \(known.addresses) to \(addresses)"
            }
            if let clash = self.proxyIPs.first(where: { !Set($0.addresses).isDisjoint(with: addresses) }) {
                return "proxy addresses \(addresses) of \(key.name) overlap those of \(clash.key.name)"
            }
            self.proxyIPs.append((key, addresses))
            return nil
        }
    }

    // MARK: Resources

    /// A gateway's `init` keeps only the authorizations the portal lists, with the portal's expiries; a gateway
    /// left without any closes the client's connection.
    private mutating func resync(_ gateway: Int) {
        let had = self.gatewayFlows.contains { $0.gateway == gateway }
        self.gatewayFlows = self.gatewayFlows.compactMap { flow in
            guard flow.gateway == gateway else {
                return flow
            }
            guard let listed = self.portalFlows.first(where: { $0.resource == flow.resource && $0.gateway == gateway })
            else {
                return nil
            }
            var kept = flow
            kept.expiries = listed.expiries
            return kept
        }
        if had && !self.gatewayFlows.contains(where: { $0.gateway == gateway }) {
            self.forgetConnections(to: gateway)
        }
    }

    private func resource(slot: Int) -> Resource? {
        self.resources.first { $0.slot == slot }
    }

    private mutating func upsert(_ resource: ClientResource, allowed: Bool) {
        let slot = TunnelWorld.slots.firstIndex { $0.id == resource.id }!
        let sites: TunnelSequence.Sites =
            switch resource.sites.map(\.id) {
            case [TunnelWorld.sites[0].id]: .a
            case [TunnelWorld.sites[1].id]: .b
            default: .both
            }
        let filterList: [Filter] =
            switch resource {
            case .cidr(let cidr): cidr.filters
            case .dns(let dns): dns.filters
            case .internet: []
            }
        let filters = TunnelWorld.filterSets.firstIndex(of: filterList)!
        let updated = Resource(slot: slot, sites: sites, filters: filters, allowed: allowed)
        guard let index = self.resources.firstIndex(where: { $0.slot == slot }) else {
            self.resources.append(updated)
            self.resources.sort { $0.slot < $1.slot }
            return
        }
        let previous = self.resources[index]
        self.resources[index] = updated
        guard allowed else {
            // Revoked: the client no longer sees it, the portal ends its flows.
            self.endFlows(of: previous.id)
            return
        }
        if !previous.allowed || previous.sites != sites {
            // Newly allowed, or moved to other sites: the client drops the resource with its flow and proxy
            // routes, and takes it as new. The portal does not end flows on a change of sites.
            self.forget(previous.id)
        }
        // The portal sends `resource_updated` to the gateways of the resource's flows that are online; an offline
        // gateway keeps the filters it had.
        for index in self.gatewayFlows.indices
        where self.gatewayFlows[index].resource == updated.id && self.gatewayOnline[self.gatewayFlows[index].gateway] {
            self.gatewayFlows[index].filters = filters
        }
    }

    /// The client's connections close (all, or the one to `gateway`): their flows and DNS-resource NAT entries go.
    private mutating func forgetConnections(to gateway: Int? = nil) {
        self.clientFlows.removeAll { gateway == nil || $0.gateway == gateway }
        self.dnsResourceNAT.removeAll { gateway == nil || $0.gateway == gateway }
    }

    /// The client's side of a resource leaving: its flow and the routes to its proxy addresses.
    private mutating func forget(_ id: ResourceID) {
        self.clientFlows.removeAll { $0.resource == id }
        self.answered.removeAll { $0.resource == id }
    }

    /// The portal ends the resource's flows: `reject_access` to online gateways. A gateway left without any
    /// authorization for the client sends `goodbye`, and the client forgets every flow through it.
    private mutating func endFlows(of id: ResourceID) {
        self.forget(id)
        self.portalFlows.removeAll { $0.resource == id }
        let gateways = self.gatewayFlows.filter { $0.resource == id && self.gatewayOnline[$0.gateway] }.map(\.gateway)
        self.gatewayFlows.removeAll { $0.resource == id && self.gatewayOnline[$0.gateway] }
        for gateway in gateways where !self.gatewayFlows.contains(where: { $0.gateway == gateway }) {
            self.forgetConnections(to: gateway)
        }
    }

    // MARK: DNS

    /// The DNS resource the client's stub resolver matches `name` to: the most specific pattern, ties by ID.
    private func dnsResource(for name: DomainName) -> Resource? {
        var best: (resource: Resource, pattern: DomainPattern)?
        for resource in self.resources where resource.allowed {
            guard case .dns(let pattern) = resource.address, pattern.matches(name) else {
                continue
            }
            if let current = best,
                !DomainPattern.isMoreSpecific(pattern, current.pattern)
                    && (DomainPattern.isMoreSpecific(current.pattern, pattern) || current.resource.id < resource.id)
            {
                continue
            }
            best = (resource, pattern)
        }
        return best?.resource
    }

    private mutating func query(_ name: DomainName, _ version: IPVersion) -> Expectation {
        if let resource = self.dnsResource(for: name) {
            // A new answer asks the gateways again for an entry that failed (a confirmed one keeps working while
            // the gateway maps the name anew).
            self.dnsResourceNAT.removeAll { $0.name == name && !$0.mapped }
            let stack = ResourceIPStack(portal: TunnelWorld.slots[resource.slot].ipStack)
            guard version == .v4 ? stack.hasIPv4 : stack.hasIPv6 else {
                // No proxy addresses of a family the resource's `ip_stack` leaves out: an empty answer
                // (rust/connlib/tunnel/src/dns.rs).
                return .exactly(.answer(.addresses([])))
            }
            let key = ProxyKey(name: name, resource: resource.id, version: version)
            if !self.answered.contains(key) {
                self.answered.append(key)
            }
            return .proxyIPs(key)
        }
        // Any other name is recursed to the upstream resolver, whose answer the client passes on.
        guard let records = TunnelWorld.records(of: name, version) else {
            return .exactly(self.recursed(.nxdomain))
        }
        return .exactly(self.recursed(.addresses(records)))
    }

    /// A query for the upstream: from the host, or through the tunnel when the portal configured an upstream that
    /// the Internet resource or a CIDR resource covers (Firezone 685acdac3a, rust/connlib/tunnel/src/client.rs),
    /// where it is a UDP packet to the upstream like any other: the application gets the upstream's answer if the
    /// packet reaches it, else what the packet would get from the gateway. A client that applies filters judges the
    /// packet first: one its route's filters deny, or that no resource routes, is SERVFAIL without a flow.
    private mutating func recursed(_ answer: TunnelObservation.Answer) -> TunnelObservation {
        let upstream = TunnelWorld.tunnelledDNS
        let tunnelled =
            self.portalUpstream
            && self.resources.contains { resource in
                guard resource.allowed else {
                    return false
                }
                switch resource.address {
                case .cidr(let network): return network.contains(upstream.address)
                case .internet: return self.internetResourceActive
                case .dns: return false
                }
            }
        guard tunnelled else {
            return .answer(answer)
        }
        let transport = TransportProtocol.udp(port: upstream.port)
        guard let (resource, _) = self.route(to: upstream.address, transport) else {
            return .answer(.servfail)
        }
        guard !self.clientAppliesFilters || resource.filter.permits(transport) else {
            return .answer(.servfail)
        }
        let outcome = self.send(to: upstream.address, transport)
        if case .packet(.reply) = outcome {
            return .answer(answer)
        }
        return outcome
    }

    /// SRV and TXT for a DNS resource's name go to the DNS server (port 53535) of the gateway of the resource's flow,
    /// asking for the flow first; the query waits for it (rust/connlib/tunnel/src/client.rs,
    /// `handle_dns_query` with `ResolveStrategy::RecurseSite`). Any other name goes to the upstream, which has no
    /// such records.
    private mutating func recordQuery(_ name: DomainName, _ type: DNSRecordType) -> TunnelObservation {
        guard let resource = self.dnsResource(for: name) else {
            return self.recursed(TunnelWorld.records(of: name, .v4) == nil ? .nxdomain : .addresses([]))
        }
        let gateway: Int
        if let flow = self.clientFlows.first(where: { $0.resource == resource.id }) {
            gateway = flow.gateway
        } else {
            guard let chosen = self.createFlow(for: resource) else {
                return .nothing
            }
            gateway = chosen
        }
        guard let record = TunnelWorld.siteRecord(of: name, type, gateway: gateway) else {
            return .answer(.nxdomain)
        }
        return .answer(.records([record]))
    }

    // MARK: Packets

    /// A probe's destination: the address, or the first proxy address the client's DNS answered for the name
    /// through the resource that matches it now.
    private func destination(of target: TunnelSequence.Target) -> IPAddress? {
        switch target {
        case .address(let index):
            return TunnelWorld.targets[index]
        case .name(let index, let ipv6):
            let name = TunnelWorld.names[index].name
            guard let resource = self.dnsResource(for: name) else {
                return nil
            }
            let key = ProxyKey(name: name, resource: resource.id, version: ipv6 ? .v6 : .v4)
            guard self.answered.contains(key) else {
                return nil
            }
            return self.proxyIPs.first { $0.key == key }?.addresses.first
        }
    }

    /// The client's choice of a route, as Firezone's later rust/libs/connlib/tunnel-proto/src/client/routing.rs makes
    /// it (stricter than 685acdac3a's longest prefix): among the resources covering the destination, the one whose
    /// filter permits the packet, then the more specific (a proxy address's /32 or /128, then the longer prefix),
    /// then the smaller ID; the Internet resource covers everything while active, except the proxy addresses, which
    /// belong to the DNS resources alone.
    private func route(to destination: IPAddress, _ transport: TransportProtocol) -> (Resource, proxyOf: DomainName?)? {
        var candidates: [(resource: Resource, prefix: Int, proxyOf: DomainName?)] = []
        let isProxy = AddressPlan.isProxyRange(destination)
        for resource in self.resources where resource.allowed {
            if isProxy {
                guard case .dns = resource.address else {
                    continue
                }
            }
            switch resource.address {
            case .cidr(let network) where network.contains(destination):
                candidates.append((resource, Int(network.prefixLength), nil))
            case .dns:
                if let entry = self.proxyIPs.first(where: {
                    $0.key.resource == resource.id && self.answered.contains($0.key)
                        && $0.addresses.contains(destination)
                }) {
                    candidates.append((resource, 128, entry.key.name))
                }
            case .internet where self.internetResourceActive:
                candidates.append((resource, 0, nil))
            default:
                continue
            }
        }
        let best = candidates.min { lhs, rhs in
            let lhsPermits = !self.clientAppliesFilters || lhs.resource.filter.permits(transport)
            let rhsPermits = !self.clientAppliesFilters || rhs.resource.filter.permits(transport)
            if lhsPermits != rhsPermits {
                return lhsPermits
            }
            if lhs.prefix != rhs.prefix {
                return lhs.prefix > rhs.prefix
            }
            // Of two routes for one prefix, the one whose resource already has a flow (685acdac3a keeps one
            // active CIDR resource per network, the connected one), then the smaller ID.
            let lhsFlows = self.clientFlows.contains { $0.resource == lhs.resource.id }
            let rhsFlows = self.clientFlows.contains { $0.resource == rhs.resource.id }
            if lhsFlows != rhsFlows {
                return lhsFlows
            }
            return lhs.resource.id < rhs.resource.id
        }
        return best.map { ($0.resource, $0.proxyOf) }
    }

    private mutating func send(to destination: IPAddress, _ transport: TransportProtocol) -> TunnelObservation {
        guard let (resource, proxyOf) = self.route(to: destination, transport) else {
            // No resource: dropped without an ICMP error (rust/connlib/tunnel/src/client.rs).
            return .nothing
        }
        guard !self.clientAppliesFilters || resource.filter.permits(transport) else {
            return .packet(.prohibited(from: destination))
        }
        let gateway: Int
        let requestedNow: Bool
        if let flow = self.clientFlows.first(where: { $0.resource == resource.id }) {
            gateway = flow.gateway
            requestedNow = false
        } else {
            guard let chosen = self.createFlow(for: resource) else {
                return .nothing
            }
            gateway = chosen
            requestedNow = true
        }
        if let name = proxyOf,
            !self.dnsResourceNAT.contains(where: {
                $0.gateway == gateway && $0.name == name && $0.resource == resource.id
            })
        {
            // The first packet waits for `AssignedIps` → `DomainStatus`: active when the gateway resolves the name
            // (to any family), inactive otherwise, which drops the waiting packets; later ones pass and the gateway
            // answers them (ClientDNSResourceNAT, after rust/connlib/tunnel/src/client/dns_resource_nat.rs).
            let resolves = [IPVersion.v4, .v6].contains { !(TunnelWorld.records(of: name, $0) ?? []).isEmpty }
            self.dnsResourceNAT.append((gateway, name, resource.id, resolves))
            if !resolves {
                return .nothing
            }
        }
        let outcome = self.gatewayForward(to: destination, transport, via: resource, proxyOf: proxyOf, gateway: gateway)
        if case .packet(.prohibited) = outcome {
            // The gateway no longer allows the flow as the client knows it: the client ends the flow and asks for a
            // new one, as Firezone's later FZFF_ICMP_ERROR_UNREACHABLE_PROHIBITED_CREATE_NEW_FLOW does (a stale flow
            // heals without waiting for its connection to fail); the new flow carries today's filters. The client
            // asks at most once in 2 s per resource: not again for a flow it asked for within this step (every
            // step of a system under test lasts longer than that).
            self.clientFlows.removeAll { $0.resource == resource.id }
            if !requestedNow {
                _ = self.createFlow(for: resource)
            }
        }
        return outcome
    }

    /// `create_flow`: the portal picks a gateway the client names as connected (every gateway it connected to in this
    /// session, rust/connlib/tunnel/src/client.rs `recently_connected_gateways`), else the first online one of the
    /// resource's sites, and authorizes the flow there; `nil` when none is online (`flow_creation_failed` offline).
    private mutating func createFlow(for resource: Resource) -> Int? {
        let online = resource.gateways.filter { self.gatewayOnline[$0] }
        guard
            let chosen = online.first(where: { self.recentGateways.contains($0) })
                ?? online.first
        else {
            return nil
        }
        if !self.recentGateways.contains(chosen) {
            self.recentGateways.append(chosen)
        }
        let flow = Flow(resource: resource.id, gateway: chosen, filters: resource.filters)
        self.clientFlows.append(flow)
        self.gatewayFlows.removeAll { $0.resource == resource.id && $0.gateway == chosen }
        self.gatewayFlows.append(flow)
        self.portalFlows.removeAll { $0.resource == resource.id && $0.gateway == chosen }
        self.portalFlows.append(flow)
        return chosen
    }

    /// The gateway's side (rust/connlib/tunnel/src/gateway.rs and peer.rs): filters as the gateway knows them (any
    /// authorized resource covering the destination may permit), the Internet resource's refusal of non-public
    /// destinations, the DNS resource NAT.
    private func gatewayForward(
        to destination: IPAddress,
        _ transport: TransportProtocol,
        via resource: Resource,
        proxyOf name: DomainName?,
        gateway: Int
    ) -> TunnelObservation {
        if case .internet = resource.address {
            return Self.isPublic(destination)
                ? .packet(.reply(from: destination)) : .packet(.unreachable(from: destination))
        }
        guard self.clientAppliesFilters else {
            return self.gatewayForwardByLongestPrefix(to: destination, transport, proxyOf: name, gateway: gateway)
        }
        let permitted = self.gatewayFlows.contains { flow in
            guard flow.gateway == gateway, let covering = self.resources.first(where: { $0.id == flow.resource }) else {
                return false
            }
            let covers: Bool
            switch covering.address {
            case .cidr(let network): covers = network.contains(destination)
            case .dns: covers = covering.id == resource.id && name != nil
            case .internet: covers = false
            }
            return covers && FilterEngine(TunnelWorld.filterSets[flow.filters]).permits(transport)
        }
        guard permitted else {
            return .packet(.prohibited(from: destination))
        }
        if let name {
            // The gateway resolves the name; a proxy address of a family the name has no address of, or a name
            // that does not resolve, gets ICMP network unreachable (rust/connlib/tunnel/src/peer.rs).
            guard let records = TunnelWorld.records(of: name, destination.version), !records.isEmpty else {
                return .packet(.unreachable(from: destination))
            }
        }
        return .packet(.reply(from: destination))
    }

    /// The gateway's side at 685acdac3a (rust/connlib/tunnel/src/peer.rs): the authorized resource with the longest
    /// prefix covering the destination (a proxy address its DNS resource) decides by its filters.
    private func gatewayForwardByLongestPrefix(
        to destination: IPAddress,
        _ transport: TransportProtocol,
        proxyOf name: DomainName?,
        gateway: Int
    ) -> TunnelObservation {
        var best: (flow: Flow, prefix: Int)?
        for flow in self.gatewayFlows where flow.gateway == gateway {
            guard let resource = self.resources.first(where: { $0.id == flow.resource }) else {
                continue
            }
            let prefix: Int
            switch resource.address {
            case .cidr(let network) where name == nil && network.contains(destination):
                prefix = Int(network.prefixLength)
            case .dns
            where name != nil
                && self.proxyIPs.contains(where: {
                    $0.key.resource == resource.id && $0.addresses.contains(destination)
                }):
                prefix = 128
            default:
                continue
            }
            if let current = best,
                current.prefix > prefix || (current.prefix == prefix && current.flow.resource < flow.resource)
            {
                continue
            }
            best = (flow, prefix)
        }
        guard let best, FilterEngine(TunnelWorld.filterSets[best.flow.filters]).permits(transport) else {
            return .packet(.prohibited(from: destination))
        }
        if let name {
            guard let records = TunnelWorld.records(of: name, destination.version), !records.isEmpty else {
                return .packet(.unreachable(from: destination))
            }
        }
        return .packet(.reply(from: destination))
    }

    /// Whether the gateway forwards a destination through the Internet resource, as Firezone's later
    /// rust/libs/connlib/tunnel-proto/src/gateway/client_on_gateway.rs does (685acdac3a forwards any address): not
    /// "this network", private, loopback, link-local, CGNAT, multicast or reserved (IPv4); not unspecified, loopback,
    /// IPv4-mapped, ULA, link-local or multicast (IPv6).
    static func isPublic(_ address: IPAddress) -> Bool {
        let refused =
            switch address.version {
            case .v4:
                [
                    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                    "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
                ]
            case .v6: ["::/128", "::1/128", "::ffff:0:0/96", "fc00::/7", "fe80::/10", "ff00::/8"]
            }
        return !refused.contains { IPNetwork($0)!.contains(address) }
    }
}
