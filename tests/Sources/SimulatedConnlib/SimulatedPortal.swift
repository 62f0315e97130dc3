import FirezoneCrypto
import FirezoneTesting
import IPPacket
import PortalMessages

/// The portal's part in the tunnel's simulations (connlib's reference model, the benchmarks' connected tunnel): it knows the client, the gateways and their sites, the resources
/// and which of them the client's policies allow, and brokers flows the way Firezone 685acdac3a's portal does
/// (elixir/apps/api/lib/api/client/channel.ex and gateway/channel.ex at 685acdac3a): `create_flow` → `authorize_flow`
/// to a gateway of the resource's site → `flow_authorized` → `flow_created`, or `flow_creation_failed` (`not_found`,
/// `forbidden`, `offline`); candidates are forwarded between the two sides.
///
/// Sans-IO like the states it serves: messages go in through `handle`, deliveries come out of ``pollDelivery()`` in
/// the order they were made, and randomness (credentials, keys, the gateway choice) comes from one seeded generator.
public struct SimulatedPortal {
    public struct Peer: Hashable {
        public var publicKey: PublicKey
        public var ipv4: IPv4Address
        public var ipv6: IPv6Address

        public init(publicKey: PublicKey, ipv4: IPv4Address, ipv6: IPv6Address) {
            self.publicKey = publicKey
            self.ipv4 = ipv4
            self.ipv6 = ipv6
        }
    }

    public struct Gateway {
        public let id: GatewayID
        public var peer: Peer
        public let site: SiteID
        public var online = true

        public init(id: GatewayID, peer: Peer, site: SiteID) {
            self.id = id
            self.peer = peer
            self.site = site
        }
    }

    public struct Resource {
        /// The resource as the client sees it; its sites name the gateways that serve it.
        public var client: ClientResource
        /// Whether the client's policies allow it: a resource that is not allowed is not listed to the client, and
        /// a `create_flow` for it fails with `forbidden`.
        public var allowed: Bool

        public var id: ResourceID { self.client.id }

        /// The resource as a gateway sees it (`authorize_flow`, `resource_updated`).
        public var gateway: GatewayResource {
            switch self.client {
            case .dns(let resource):
                .dns(id: resource.id, address: resource.address, name: resource.name, filters: resource.filters)
            case .cidr(let resource):
                .cidr(id: resource.id, address: resource.address, name: resource.name, filters: resource.filters)
            case .internet(let resource):
                .internet(id: resource.id)
            }
        }
    }

    public enum Delivery: Hashable {
        case toClient(ClientInbound)
        case toGateway(GatewayID, GatewayInbound)
    }

    public struct Flow: Hashable {
        public let resource: ResourceID
        public let gateway: GatewayID
        /// Unix seconds.
        public var expiresAt: UInt64
    }

    private struct PendingFlow {
        let ref: String
        let flow: Flow
        let presharedKey: PresharedKey
        let clientCredentials: IceCredentials
        let gatewayCredentials: IceCredentials
    }

    public let clientID: ClientID
    public var client: Peer
    public private(set) var gateways: [Gateway]
    public private(set) var resources: [Resource] = []
    public private(set) var flows: [Flow] = []
    /// How long an authorized flow lasts, in seconds.
    public var flowLifetime: UInt64 = 3_600
    /// Among several online gateways of a resource's sites that the client is not connected to, the first (in the
    /// order of `gateways`) rather than a random one: a reference model can then tell which gateway serves a flow.
    public var choosesFirstGateway = false
    private var pending: [PendingFlow] = []
    private var deliveries: [Delivery] = []
    private var rng: SeededRandomNumberGenerator
    private var nextRef = 1

    public init(clientID: ClientID, client: Peer, gateways: [Gateway], seed: UInt64) {
        self.clientID = clientID
        self.client = client
        self.gateways = gateways
        self.rng = SeededRandomNumberGenerator(seed: seed)
    }

    public mutating func pollDelivery() -> Delivery? {
        self.deliveries.isEmpty ? nil : self.deliveries.removeFirst()
    }

    // MARK: What the portal sends on join

    public func clientInit(interface: ClientInterface, relays: [RelayEntry]) -> ClientInit {
        ClientInit(interface: interface, resources: self.resources.filter(\.allowed).map(\.client), relays: relays)
    }

    /// A gateway's `init`: the flows it serves, with their expiries, so that it re-syncs its authorizations.
    public func gatewayInit(_ gateway: GatewayID, relays: [RelayEntry]) -> GatewayInit {
        let peer = self.gateway(gateway).peer
        return GatewayInit(
            interface: GatewayInterface(ipv4: peer.ipv4, ipv6: peer.ipv6),
            config: GatewayConfig(ipv4MasqueradeEnabled: true, ipv6MasqueradeEnabled: true),
            relays: relays,
            accountSlug: "simulation",
            authorizations: self.flows.filter { $0.gateway == gateway }.map {
                Authorization(clientID: self.clientID, resourceID: $0.resource, expiresAt: $0.expiresAt)
            }
        )
    }

    // MARK: Messages from the client and the gateways

    public mutating func handle(_ event: ClientOutbound, unixTime: UInt64) {
        switch event {
        case .createFlow(let request):
            self.createFlow(request, unixTime: unixTime)
        case .broadcastIceCandidates(let message):
            for gateway in message.gatewayIDs {
                self.deliver(
                    to: gateway,
                    .iceCandidates(ClientIceCandidates(clientID: self.clientID, candidates: message.candidates))
                )
            }
        case .broadcastInvalidatedIceCandidates(let message):
            for gateway in message.gatewayIDs {
                self.deliver(
                    to: gateway,
                    .invalidateIceCandidates(
                        ClientIceCandidates(clientID: self.clientID, candidates: message.candidates)
                    )
                )
            }
        }
    }

    public mutating func handle(_ event: GatewayOutbound, from gateway: GatewayID) {
        switch event {
        case .flowAuthorized(let message):
            guard let index = self.pending.firstIndex(where: { $0.ref == message.ref && $0.flow.gateway == gateway })
            else {
                return
            }
            let flow = self.pending.remove(at: index)
            self.flows.removeAll { $0.resource == flow.flow.resource && $0.gateway == gateway }
            self.flows.append(flow.flow)
            let peer = self.gateway(gateway).peer
            self.deliveries.append(
                .toClient(
                    .flowCreated(
                        FlowCreated(
                            resourceID: flow.flow.resource,
                            gatewayID: gateway,
                            siteID: self.gateway(gateway).site,
                            gatewayPublicKey: peer.publicKey,
                            gatewayIPv4: peer.ipv4,
                            gatewayIPv6: peer.ipv6,
                            presharedKey: flow.presharedKey,
                            clientIceCredentials: flow.clientCredentials,
                            gatewayIceCredentials: flow.gatewayCredentials
                        )
                    )
                )
            )
        case .broadcastIceCandidates(let message):
            if message.clientIDs.contains(self.clientID) {
                self.deliveries.append(
                    .toClient(.iceCandidates(GatewayIceCandidates(gatewayID: gateway, candidates: message.candidates)))
                )
            }
        case .broadcastInvalidatedIceCandidates(let message):
            if message.clientIDs.contains(self.clientID) {
                self.deliveries.append(
                    .toClient(
                        .invalidateIceCandidates(
                            GatewayIceCandidates(gatewayID: gateway, candidates: message.candidates)
                        )
                    )
                )
            }
        }
    }

    /// Firezone 685acdac3a's choice of a gateway (Gateways.load_balance_gateways): one the client is already
    /// connected to, else any online gateway of the resource's sites (the first with ``choosesFirstGateway``).
    private mutating func createFlow(_ request: CreateFlow, unixTime: UInt64) {
        func fail(_ reason: FlowFailureReason) {
            self.deliveries.append(
                .toClient(.flowCreationFailed(FlowCreationFailed(resourceID: request.resourceID, reason: reason)))
            )
        }
        guard let resource = self.resources.first(where: { $0.id == request.resourceID }) else {
            return fail(.notFound)
        }
        guard resource.allowed else {
            return fail(.forbidden)
        }
        let sites = Set(resource.client.sites.map(\.id))
        let candidates = self.gateways.filter { $0.online && sites.contains($0.site) }
        guard !candidates.isEmpty else {
            return fail(.offline)
        }
        let chosen =
            candidates.first { request.connectedGatewayIDs.contains($0.id) }
            ?? (self.choosesFirstGateway
                ? candidates[0] : candidates[Int.random(in: 0..<candidates.count, using: &self.rng)])
        let ref = "flow-\(self.nextRef)"
        self.nextRef += 1
        let flow = PendingFlow(
            ref: ref,
            flow: Flow(resource: resource.id, gateway: chosen.id, expiresAt: unixTime + self.flowLifetime),
            presharedKey: PresharedKey(Bytes32(self.rng.bytes(32))!),
            clientCredentials: self.iceCredentials(),
            gatewayCredentials: self.iceCredentials()
        )
        self.pending.append(flow)
        self.deliver(
            to: chosen.id,
            .authorizeFlow(
                AuthorizeFlow(
                    ref: ref,
                    resource: resource.gateway,
                    client: FlowClient(
                        id: self.clientID,
                        publicKey: self.client.publicKey,
                        presharedKey: flow.presharedKey,
                        ipv4: self.client.ipv4,
                        ipv6: self.client.ipv6
                    ),
                    clientIceCredentials: flow.clientCredentials,
                    gatewayIceCredentials: flow.gatewayCredentials,
                    expiresAt: flow.flow.expiresAt
                )
            )
        )
    }

    // MARK: What an administrator does

    /// Adds or changes a resource; the client hears of it if it is allowed, and the gateways serving flows of it get
    /// its new filters (a resource never changes type).
    public mutating func upsertResource(_ resource: ClientResource, allowed: Bool = true) {
        let updated = Resource(client: resource, allowed: allowed)
        if let index = self.resources.firstIndex(where: { $0.id == resource.id }) {
            let wasAllowed = self.resources[index].allowed
            self.resources[index] = updated
            if !allowed {
                if wasAllowed {
                    self.deliveries.append(.toClient(.resourceDeleted(resource.id)))
                }
                self.endFlows(of: resource.id)
                return
            }
            for gateway in self.flows.filter({ $0.resource == resource.id }).map(\.gateway) {
                self.deliver(to: gateway, .resourceUpdated(updated.gateway))
            }
        } else {
            self.resources.append(updated)
        }
        if allowed {
            self.deliveries.append(.toClient(.resourceCreatedOrUpdated(resource)))
        }
    }

    public mutating func deleteResource(_ id: ResourceID) {
        guard let index = self.resources.firstIndex(where: { $0.id == id }) else {
            return
        }
        if self.resources.remove(at: index).allowed {
            self.deliveries.append(.toClient(.resourceDeleted(id)))
        }
        self.endFlows(of: id)
    }

    /// Ends the flows whose expiry has passed, as the portal's flow expiry does: `reject_access` to their gateways.
    public mutating func expireFlows(unixTime: UInt64) {
        let expired = self.flows.filter { $0.expiresAt <= unixTime }
        self.flows.removeAll { $0.expiresAt <= unixTime }
        for flow in expired {
            self.deliver(
                to: flow.gateway,
                .rejectAccess(RejectAccess(clientID: self.clientID, resourceID: flow.resource))
            )
        }
    }

    /// Moves a flow's expiry (`access_authorization_expiry_updated`, sent when another flow still covers the pair).
    public mutating func updateExpiry(of resource: ResourceID, to expiresAt: UInt64) {
        for index in self.flows.indices where self.flows[index].resource == resource {
            self.flows[index].expiresAt = expiresAt
            self.deliver(
                to: self.flows[index].gateway,
                .accessAuthorizationExpiryUpdated(
                    AccessAuthorizationExpiryUpdated(
                        clientID: self.clientID,
                        resourceID: resource,
                        expiresAt: expiresAt
                    )
                )
            )
        }
    }

    /// Moves every flow's expiry to `expiresAt`, resource by resource in the order of their flows.
    public mutating func extendFlows(to expiresAt: UInt64) {
        var resources: [ResourceID] = []
        for flow in self.flows where !resources.contains(flow.resource) {
            resources.append(flow.resource)
        }
        for resource in resources {
            self.updateExpiry(of: resource, to: expiresAt)
        }
    }

    /// A gateway joins or leaves; flows still waiting for a leaving gateway fail with `offline`.
    public mutating func setOnline(_ gateway: GatewayID, _ online: Bool) {
        guard let index = self.gateways.firstIndex(where: { $0.id == gateway }) else {
            preconditionFailure("the gateway exists")
        }
        self.gateways[index].online = online
        guard !online else {
            return
        }
        let orphaned = self.pending.filter { $0.flow.gateway == gateway }
        self.pending.removeAll { $0.flow.gateway == gateway }
        for flow in orphaned {
            self.deliveries.append(
                .toClient(.flowCreationFailed(FlowCreationFailed(resourceID: flow.flow.resource, reason: .offline)))
            )
        }
    }

    // MARK: Helpers

    private mutating func endFlows(of resource: ResourceID) {
        let ended = self.flows.filter { $0.resource == resource }
        self.flows.removeAll { $0.resource == resource }
        for flow in ended {
            self.deliver(to: flow.gateway, .rejectAccess(RejectAccess(clientID: self.clientID, resourceID: resource)))
        }
    }

    private mutating func deliver(to gateway: GatewayID, _ event: GatewayInbound) {
        if self.gateway(gateway).online {
            self.deliveries.append(.toGateway(gateway, event))
        }
    }

    private func gateway(_ id: GatewayID) -> Gateway {
        guard let gateway = self.gateways.first(where: { $0.id == id }) else {
            preconditionFailure("the gateway exists")
        }
        return gateway
    }

    /// Short-term ICE credentials of the seed era's length: a 4-character username fragment and a 22-character
    /// password (RFC 8445 §5.3 asks for at least 24 bits and 128 bits of randomness).
    private mutating func iceCredentials() -> IceCredentials {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        func text(_ count: Int) -> String {
            String((0..<count).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &self.rng)] })
        }
        return IceCredentials(username: text(4), password: text(22))
    }
}
