import FirezoneCrypto
import IPPacket
import PortalMessages
import SimulatedConnlib
import Testing

@Suite struct SimulatedPortalTests {
    static let site = Site(id: SiteID("site-a"), name: "a")
    static let otherSite = Site(id: SiteID("site-b"), name: "b")
    static let web = ClientResource.cidr(
        CIDRResource(
            id: ResourceID("web"),
            address: IPNetwork("10.0.0.0/24")!,
            name: "web",
            addressDescription: nil,
            sites: [site]
        )
    )
    static let remote = ClientResource.cidr(
        CIDRResource(
            id: ResourceID("remote"),
            address: IPNetwork("10.9.0.0/24")!,
            name: "remote",
            addressDescription: nil,
            sites: [otherSite]
        )
    )

    func portal(gateways: [GatewayID] = [GatewayID("g1"), GatewayID("g2")]) -> SimulatedPortal {
        func peer(_ n: UInt8) -> SimulatedPortal.Peer {
            SimulatedPortal.Peer(
                publicKey: PublicKey(bytes: [UInt8](repeating: n, count: 32))!,
                ipv4: IPv4Address(100, 64, 0, n),
                ipv6: IPv6Address(high: 0xfd00_2021_1111_0000, low: UInt64(n))
            )
        }
        var portal = SimulatedPortal(
            clientID: ClientID("c"),
            client: peer(1),
            gateways: gateways.enumerated().map {
                SimulatedPortal.Gateway(id: $0.element, peer: peer(UInt8(10 + $0.offset)), site: Self.site.id)
            },
            seed: 7
        )
        portal.upsertResource(Self.web)
        portal.upsertResource(Self.remote)
        while portal.pollDelivery() != nil {}
        return portal
    }

    func drain(_ portal: inout SimulatedPortal) -> [SimulatedPortal.Delivery] {
        var deliveries: [SimulatedPortal.Delivery] = []
        while let delivery = portal.pollDelivery() {
            deliveries.append(delivery)
        }
        return deliveries
    }

    @Test func aFlowIsAuthorizedByAGatewayOfTheSiteThenCreatedForTheClient() throws {
        var portal = self.portal()
        portal.handle(.createFlow(CreateFlow(resourceID: ResourceID("web"), connectedGatewayIDs: [])), unixTime: 100)
        let toGateway = drain(&portal)
        guard toGateway.count == 1, case .toGateway(let gateway, .authorizeFlow(let authorize)) = toGateway[0] else {
            Issue.record("expected one authorize_flow, got \(toGateway)")
            return
        }
        #expect(authorize.expiresAt == 100 + portal.flowLifetime)
        #expect(authorize.client.id == ClientID("c"))
        portal.handle(.flowAuthorized(FlowAuthorized(ref: authorize.ref)), from: gateway)
        let toClient = drain(&portal)
        guard toClient.count == 1, case .toClient(.flowCreated(let created)) = toClient[0] else {
            Issue.record("expected one flow_created, got \(toClient)")
            return
        }
        #expect(created.gatewayID == gateway)
        #expect(created.presharedKey == authorize.client.presharedKey)
        #expect(created.clientIceCredentials == authorize.clientIceCredentials)
        #expect(created.gatewayIceCredentials.password.count == 22)
        #expect(portal.flows.map(\.gateway) == [gateway])
    }

    @Test func aConnectedGatewayIsPreferred() {
        var portal = self.portal()
        portal.handle(
            .createFlow(CreateFlow(resourceID: ResourceID("web"), connectedGatewayIDs: [GatewayID("g2")])),
            unixTime: 0
        )
        guard case .toGateway(let gateway, .authorizeFlow) = drain(&portal).first else {
            Issue.record("no authorize_flow")
            return
        }
        #expect(gateway == GatewayID("g2"))
    }

    @Test func flowsFailAsNotFoundForbiddenOrOffline() {
        var portal = self.portal()
        portal.upsertResource(Self.web, allowed: false)
        _ = drain(&portal)
        portal.handle(.createFlow(CreateFlow(resourceID: ResourceID("nope"), connectedGatewayIDs: [])), unixTime: 0)
        portal.handle(.createFlow(CreateFlow(resourceID: ResourceID("web"), connectedGatewayIDs: [])), unixTime: 0)
        portal.handle(.createFlow(CreateFlow(resourceID: ResourceID("remote"), connectedGatewayIDs: [])), unixTime: 0)
        let reasons: [FlowFailureReason] = drain(&portal).compactMap {
            if case .toClient(.flowCreationFailed(let failure)) = $0 { failure.reason } else { nil }
        }
        #expect(reasons == [.notFound, .forbidden, .offline])
    }

    @Test func aPendingFlowFailsOfflineWhenItsGatewayLeaves() {
        var portal = self.portal(gateways: [GatewayID("g1")])
        portal.handle(.createFlow(CreateFlow(resourceID: ResourceID("web"), connectedGatewayIDs: [])), unixTime: 0)
        _ = drain(&portal)
        portal.setOnline(GatewayID("g1"), false)
        guard case .toClient(.flowCreationFailed(let failure)) = drain(&portal).first else {
            Issue.record("no flow_creation_failed")
            return
        }
        #expect(failure.reason == .offline)
    }

    @Test func revokingOrExpiringAFlowRejectsAccessAtItsGateway() {
        var portal = self.portal(gateways: [GatewayID("g1")])
        portal.handle(.createFlow(CreateFlow(resourceID: ResourceID("web"), connectedGatewayIDs: [])), unixTime: 0)
        guard case .toGateway(_, .authorizeFlow(let authorize)) = drain(&portal).first else {
            Issue.record("no authorize_flow")
            return
        }
        portal.handle(.flowAuthorized(FlowAuthorized(ref: authorize.ref)), from: GatewayID("g1"))
        _ = drain(&portal)
        portal.expireFlows(unixTime: portal.flowLifetime - 1)
        #expect(drain(&portal).isEmpty)
        portal.expireFlows(unixTime: portal.flowLifetime)
        let rejected = RejectAccess(clientID: ClientID("c"), resourceID: ResourceID("web"))
        #expect(drain(&portal) == [.toGateway(GatewayID("g1"), .rejectAccess(rejected))])
        #expect(portal.flows.isEmpty)
    }
}
