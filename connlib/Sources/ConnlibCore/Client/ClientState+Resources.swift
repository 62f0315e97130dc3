import FirezoneTime
import IPPacket
import OrderedCollections
import PortalMessages
import Snownet

extension ClientState {
    /// The default routes the Internet resource claims while it is active.
    static let internetNetworks = [IPNetwork("0.0.0.0/0")!, IPNetwork("::/0")!]

    /// Takes one event of the portal's `client` topic (Firezone's rust/client-shared/src/eventloop.rs at the seed
    /// era maps them the same way).
    public mutating func handlePortalEvent(_ event: ClientInbound, now: Instant) {
        self.lastNow = now
        guard !self.shuttingDown else {
            return
        }
        switch event {
        case .initialize(let initialize):
            self.interface = initialize.interface
            self.updateUpstreams()
            self.setResources(initialize.resources.elements)
            self.replaceRelays(initialize.relays.elements, now: now)
        case .configChanged(let changed):
            self.interface = changed.interface
            self.updateUpstreams()
            self.resourcesDidChange()
        case .resourceCreatedOrUpdated(let resource):
            self.upsertResource(resource)
            self.resourcesDidChange()
        case .resourceDeleted(let id):
            self.removeResource(id)
            self.resourcesDidChange()
        case .relaysPresence(let presence):
            self.node.updateRelays(
                removing: presence.disconnectedIDs,
                adding: PortalRelays.turnServers(from: presence.connected.elements),
                now: now
            )
        case .flowCreated(let flow):
            self.flowCreated(flow, now: now)
        case .flowCreationFailed(let failure):
            self.flowCreationFailed(failure)
        case .iceCandidates(let candidates):
            do {
                try self.node.addRemoteCandidates(candidates.candidates, for: candidates.gatewayID, now: now)
            } catch {
                self.stats.count(.unknownPortalReference)
            }
        case .invalidateIceCandidates(let candidates):
            for candidate in candidates.candidates {
                do {
                    try self.node.removeRemoteCandidate(candidate, for: candidates.gatewayID, now: now)
                } catch {
                    self.stats.count(.unknownPortalReference)
                }
            }
        }
        self.drainNode(now: now)
    }

    /// `init`'s relays replace the node's: those it no longer lists go.
    private mutating func replaceRelays(_ entries: [RelayEntry], now: Instant) {
        let servers = PortalRelays.turnServers(from: entries)
        let listed = Set(servers.map(\.id))
        self.node.updateRelays(
            removing: self.node.relayIDs.filter { !listed.contains($0) },
            adding: servers,
            now: now
        )
    }

    // MARK: Resources

    /// `init`'s resources replace all others.
    mutating func setResources(_ resources: [ClientResource]) {
        let listed = Set(resources.map(\.id))
        for id in self.resources.keys where !listed.contains(id) {
            self.removeResource(id)
        }
        for resource in resources {
            self.upsertResource(resource)
        }
        self.resourcesDidChange()
    }

    /// Adds a resource or updates it. A changed address or type ends its flow: the gateway that served the old
    /// address may not serve the new one (connlib removes and re-adds such a resource).
    mutating func upsertResource(_ resource: ClientResource) {
        if let existing = self.resources[resource.id], !Self.routesAlike(existing, resource) {
            self.endFlow(of: resource.id)
        }
        self.resources[resource.id] = resource
    }

    mutating func removeResource(_ id: ResourceID) {
        self.endFlow(of: id)
        self.lastFlowRequest.removeValue(forKey: id)
        self.resources.removeValue(forKey: id)
    }

    private static func routesAlike(_ lhs: ClientResource, _ rhs: ClientResource) -> Bool {
        switch (lhs, rhs) {
        case (.cidr(let old), .cidr(let new)): old.address == new.address && old.sites == new.sites
        case (.dns(let old), .dns(let new)): old.address == new.address && old.sites == new.sites
        case (.internet(let old), .internet(let new)): old.sites == new.sites
        default: false
        }
    }

    /// Whether the Internet resource routes traffic: the shell activated it, or the portal says it cannot be
    /// disabled.
    func isActive(_ resource: InternetResource) -> Bool {
        self.internetResourceActivated || resource.canBeDisabled == false
    }

    /// Rebuilds the routes and tells the shell about the new TUN configuration and resource list when they changed.
    mutating func resourcesDidChange() {
        self.stub.setResources(
            self.resources.values.filter { resource in
                if case .internet(let internet) = resource { self.isActive(internet) } else { true }
            }
        )
        self.rebuildRoutingTable()
        if let config = self.tunConfig(), config != self.lastTunConfig {
            self.lastTunConfig = config
            self.events.append(.tunInterfaceUpdated(config))
        }
        let views = self.resourceViews()
        if views != self.lastResourceViews {
            self.lastResourceViews = views
            self.events.append(.resourcesChanged(views))
        }
    }

    mutating func rebuildRoutingTable() {
        self.routeCache.invalidate()
        self.routing.removeAll()
        for resource in self.resources.values {
            switch resource {
            case .cidr(let cidr):
                self.routing.insert(
                    ClientRoutingTable.Route(
                        resourceID: cidr.id,
                        filter: self.filter(of: resource),
                        hasFlow: self.gatewayByResource[cidr.id] != nil
                    ),
                    for: cidr.address
                )
            case .dns:
                // Routed through the proxy addresses the stub gives the names it matches, below.
                break
            case .internet(let internet):
                guard self.isActive(internet) else {
                    continue
                }
                for network in Self.internetNetworks {
                    self.routing.insert(
                        ClientRoutingTable.Route(
                            resourceID: internet.id,
                            filter: self.filter(of: resource),
                            hasFlow: self.gatewayByResource[internet.id] != nil
                        ),
                        for: network
                    )
                }
            }
        }
        self.proxyRecords.removeAll(keepingCapacity: true)
        for record in self.stub.records.records {
            guard case .dns? = self.resources[record.resource] else {
                continue
            }
            for address in record.proxyIPs {
                self.proxyRecords[address] = record
            }
        }
        for (network, route) in self.proxyRoutes() {
            self.routing.insert(route, for: network)
        }
    }

    /// Routes to the proxy addresses of the names of current DNS resources; records of resources that went away
    /// (or of an earlier session) route nowhere.
    func proxyRoutes() -> [(network: IPNetwork, route: ClientRoutingTable.Route)] {
        var routes: [(network: IPNetwork, route: ClientRoutingTable.Route)] = []
        for record in self.stub.records.records {
            guard case .dns(let dns)? = self.resources[record.resource],
                let pattern = try? DomainPattern(dns.address)
            else {
                continue
            }
            let route = ClientRoutingTable.Route(
                resourceID: dns.id,
                pattern: pattern,
                filter: self.filter(of: .dns(dns)),
                hasFlow: self.gatewayByResource[dns.id] != nil
            )
            for address in record.proxyIPs {
                routes.append((IPNetwork(host: address), route))
            }
        }
        return routes
    }

    /// The filters a resource's route applies: the resource's own, as the gateway applies them. Connlib at Firezone
    /// 685acdac3a ignores them on the client and lets the gateway refuse; Firezone's later client filters first
    /// (rust/connlib/tunnel/src/client.rs), so a refused packet gets its ICMP at once and never wakes a connection.
    func filter(of resource: ClientResource) -> FilterEngine {
        switch resource {
        case .cidr(let cidr): FilterEngine(cidr.filters)
        case .dns(let dns): FilterEngine(dns.filters)
        case .internet: FilterEngine.permitAll
        }
    }

    func tunConfig() -> TunConfig? {
        guard let interface = self.interface else {
            return nil
        }
        var routes = OrderedSet(AddressPlan.clientRoutes)
        for resource in self.resources.values {
            switch resource {
            case .cidr(let cidr):
                routes.append(cidr.address)
            case .dns:
                break
            case .internet(let internet):
                if self.isActive(internet) {
                    routes.append(contentsOf: Self.internetNetworks)
                }
            }
        }
        routes.append(contentsOf: self.proxyRoutes().map(\.network))
        return TunConfig(
            ipv4: interface.ipv4,
            ipv6: interface.ipv6,
            routes: routes.sorted(),
            dnsBySentinel: self.stub.sentinels.map {
                DNSSentinel(sentinel: $0.sentinel, upstream: $0.upstream.address)
            },
            searchDomain: interface.searchDomain
        )
    }

    func resourceViews() -> [ClientResourceView] {
        self.resources.values.map { resource in
            let isActive: Bool
            if case .internet(let internet) = resource {
                isActive = self.isActive(internet)
            } else {
                isActive = true
            }
            return ClientResourceView(resource: resource, status: self.status(of: resource), isActive: isActive)
        }
    }

    /// Online when a gateway of one of its sites is connected, offline when every site is marked offline.
    func status(of resource: ClientResource) -> ResourceStatus {
        let statuses = resource.sites.map { self.siteStatus[$0.id] ?? .unknown }
        if statuses.contains(.online) {
            return .online
        }
        if !statuses.isEmpty, statuses.allSatisfy({ $0 == .offline }) {
            return .offline
        }
        return .unknown
    }
}
