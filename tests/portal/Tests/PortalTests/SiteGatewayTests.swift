import NIOCore
import NIOPosix
import PhoenixChannel
import PhoenixCore
import PortalMessages
import PortalServer
import PortalTestSupport
import Testing

/// Gateways that share their site's token, the choice among a site's gateways, and what happens when one leaves.
@Suite(.timeLimit(.minutes(2)))
struct SiteGatewayTests {
    /// The test world with site A served only by gateways signing in with the site token `site-a-token`.
    static var siteTokenConfiguration: PortalConfiguration {
        var configuration = PortalConfiguration.test
        configuration.sites[0].token = "site-a-token"
        configuration.gateways.removeAll { $0.siteID == TestWorld.site }
        return configuration
    }

    static func connectSiteGateway(
        _ fixture: PortalFixture,
        externalID: String,
        key: UInt8,
        group: any EventLoopGroup
    ) throws -> (PhoenixChannel<GatewayTopic>, EventLog<GatewayInbound>) {
        try connect(
            GatewayTopic.self,
            to: fixture.apiURL,
            token: "site-a-token",
            parameters: .gateway(id: externalID, name: externalID, publicKey: TestWorld.key(key).base64),
            joinPayload: EmptyPayload(),
            group: group
        )
    }

    static func initialize(_ events: EventLog<GatewayInbound>) async throws -> GatewayInit {
        try await BrokeringTests.expect(events) { if case .initialize(let i) = $0 { i } else { nil } }
    }

    /// Waits for the gateway among `gateways` that is asked to authorize a flow; its id and the request.
    static func authorizingGateway(
        _ gateways: [(GatewayID, EventLog<GatewayInbound>)],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (GatewayID, AuthorizeFlow) {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            for (id, events) in gateways {
                if let authorize = events.take({ if case .authorizeFlow(let a)? = $0.message { a } else { nil } }) {
                    return (id, authorize)
                }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("no gateway was asked to authorize a flow", sourceLocation: sourceLocation)
        throw TimedOut()
    }

    @Test
    func gatewaysSharingASiteTokenAreToldApartByTheirExternalID() async throws {
        let fixture = try await PortalFixture(configuration: Self.siteTokenConfiguration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var (alpha, alphaEvents) = try Self.connectSiteGateway(fixture, externalID: "alpha", key: 2, group: group)
        let (beta, betaEvents) = try Self.connectSiteGateway(fixture, externalID: "beta", key: 3, group: group)
        let alphaInit = try await Self.initialize(alphaEvents)
        let betaInit = try await Self.initialize(betaEvents)
        #expect(alphaInit.interface != betaInit.interface)

        let alphaID = Portal.gatewayID(site: TestWorld.site, externalID: "alpha")
        let betaID = Portal.gatewayID(site: TestWorld.site, externalID: "beta")
        #expect(alphaID != betaID)
        // A UUID (connlib reads gateway ids as UUIDs), version 8.
        let text = Array(alphaID.rawValue)
        #expect(text.count == 36 && text[14] == "8" && [8, 13, 18, 23].allSatisfy { text[$0] == "-" })
        let (_, body) = try await fixture.admin("GET", "/v1/gateways")
        let report = try PortalCodec.decodeJSON([GatewayReport].self, from: body)
        #expect(
            report.filter { $0.siteID == TestWorld.site } == [
                GatewayReport(id: alphaID, siteID: TestWorld.site, name: "alpha", externalID: "alpha", online: true),
                GatewayReport(id: betaID, siteID: TestWorld.site, name: "beta", externalID: "beta", online: true),
            ]
        )

        // Back with the same external_id: the same gateway, with the same tunnel addresses.
        alpha.close()
        try await BrokeringTests.presence(of: fixture) { !$0.contains(alphaID.rawValue) }
        (alpha, alphaEvents) = try Self.connectSiteGateway(fixture, externalID: "alpha", key: 2, group: group)
        #expect(try await Self.initialize(alphaEvents).interface == alphaInit.interface)
        try await BrokeringTests.presence(of: fixture) {
            $0.contains(alphaID.rawValue) && $0.contains(betaID.rawValue)
        }

        // Without an external_id, a site token does not tell which gateway it is.
        var (status, reason) = try await HTTPRequest.send(
            method: "GET",
            host: "127.0.0.1",
            port: fixture.port,
            path: "/gateway/websocket?token=site-a-token&public_key=\(TestWorld.key(4).base64)",
            group: group
        )
        #expect(status == 422)
        #expect(reason == "external_id: can't be blank")
        // A request that is not upgraded registers nothing.
        (status, _) = try await HTTPRequest.send(
            method: "GET",
            host: "127.0.0.1",
            port: fixture.port,
            path: "/gateway/websocket?token=site-a-token&external_id=gamma&public_key=\(TestWorld.key(4).base64)",
            group: group
        )
        #expect(status == 400)
        #expect(try await fixture.admin("GET", "/v1/gateways").1.contains("gamma") == false)
        alpha.close()
        beta.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func aFlowGoesToARandomOnlineGatewayOfTheSiteRepeatableByTheSeed() async throws {
        func choices(seed: UInt64) async throws -> [GatewayID] {
            var options = Portal.Options.test
            options.gatewaySelectionSeed = seed
            let fixture = try await PortalFixture(configuration: Self.siteTokenConfiguration, options: options)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let (alpha, alphaEvents) = try Self.connectSiteGateway(fixture, externalID: "alpha", key: 2, group: group)
            let (beta, betaEvents) = try Self.connectSiteGateway(fixture, externalID: "beta", key: 3, group: group)
            try await BrokeringTests.joined(alphaEvents)
            try await BrokeringTests.joined(betaEvents)
            let (client, clientEvents) = try connectClient(fixture, group: group)
            try await BrokeringTests.joined(clientEvents)
            let gateways = [
                (Portal.gatewayID(site: TestWorld.site, externalID: "alpha"), alphaEvents),
                (Portal.gatewayID(site: TestWorld.site, externalID: "beta"), betaEvents),
            ]
            var chosen: [GatewayID] = []
            for _ in 0..<10 {
                client.send(.createFlow(CreateFlow(resourceID: TestWorld.lan, connectedGatewayIDs: [])))
                chosen.append(try await Self.authorizingGateway(gateways).0)
            }
            client.close()
            alpha.close()
            beta.close()
            try await fixture.stop()
            try await group.shutdownGracefully()
            return chosen
        }
        let first = try await choices(seed: 42)
        // Both gateways share the load, and the same seed draws the same gateways.
        #expect(Set(first).count == 2, "\(first)")
        #expect(try await choices(seed: 42) == first)
    }

    @Test
    func aPendingFlowFailsOfflineWhenItsGatewayLeavesAndTheNextOneFailsOver() async throws {
        let fixture = try await PortalFixture(configuration: Self.siteTokenConfiguration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (alpha, alphaEvents) = try Self.connectSiteGateway(fixture, externalID: "alpha", key: 2, group: group)
        let (beta, betaEvents) = try Self.connectSiteGateway(fixture, externalID: "beta", key: 3, group: group)
        try await BrokeringTests.joined(alphaEvents)
        try await BrokeringTests.joined(betaEvents)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        try await BrokeringTests.joined(clientEvents)
        let alphaID = Portal.gatewayID(site: TestWorld.site, externalID: "alpha")
        let betaID = Portal.gatewayID(site: TestWorld.site, externalID: "beta")
        let channels = [alphaID: alpha, betaID: beta]

        client.send(.createFlow(CreateFlow(resourceID: TestWorld.lan, connectedGatewayIDs: [])))
        let (leaving, _) = try await Self.authorizingGateway([(alphaID, alphaEvents), (betaID, betaEvents)])
        channels[leaving]!.close()
        #expect(
            try await BrokeringTests.expect(clientEvents) { if case .flowCreationFailed(let f) = $0 { f } else { nil } }
                == FlowCreationFailed(resourceID: TestWorld.lan, reason: .offline, violatedProperties: nil)
        )

        // Asking again, even naming the gone gateway, reaches the one still online.
        let staying = leaving == alphaID ? betaID : alphaID
        client.send(.createFlow(CreateFlow(resourceID: TestWorld.lan, connectedGatewayIDs: [leaving])))
        let (asked, authorize) = try await Self.authorizingGateway([
            (alphaID, alphaEvents), (betaID, betaEvents),
        ])
        #expect(asked == staying)
        channels[staying]!.send(.flowAuthorized(FlowAuthorized(ref: authorize.ref)))
        #expect(
            try await BrokeringTests.expect(clientEvents) {
                if case .flowCreated(let f) = $0 { f.gatewayID } else { nil }
            }
                == staying
        )
        client.close()
        channels[staying]!.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func expiringASiteGatewaysTokenEndsEveryGatewayOfTheSite() async throws {
        let fixture = try await PortalFixture(configuration: Self.siteTokenConfiguration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (_, alphaEvents) = try Self.connectSiteGateway(fixture, externalID: "alpha", key: 2, group: group)
        let (_, betaEvents) = try Self.connectSiteGateway(fixture, externalID: "beta", key: 3, group: group)
        try await BrokeringTests.joined(alphaEvents)
        try await BrokeringTests.joined(betaEvents)
        // The gateways share the token: it is the token that expires, for all of them.
        let alphaID = Portal.gatewayID(site: TestWorld.site, externalID: "alpha")
        #expect(try await fixture.admin("POST", "/v1/components/\(alphaID)/expire-token").0 == 200)
        for events in [alphaEvents, betaEvents] {
            try await events.next { $0 == .failed(PhoenixFailure(.tokenExpired)) ? () : nil }
        }
        try await fixture.stop()
        try await group.shutdownGracefully()
    }
}
