import Glibc
import NIOPosix
import PhoenixChannel
import PhoenixCore
import PortalMessages
import PortalServer
import PortalTestSupport
import Testing

/// Flows end when their lifetime is up, and the admin API moves their expiry.
@Suite(.timeLimit(.minutes(2)))
struct FlowExpiryTests {
    /// The test world where flows last an hour, and those of the LAN resource `lanLifetime` seconds.
    static func configuration(lanLifetime: UInt64) -> PortalConfiguration {
        var configuration = PortalConfiguration.test
        configuration.flowLifetime = 3600
        let lan = configuration.policies.firstIndex { $0.resourceID == TestWorld.lan }!
        configuration.policies[lan].flowLifetime = lanLifetime
        return configuration
    }

    /// Asks for a flow to `resource`, has gw-1 authorize it; the request gw-1 saw.
    static func authorizedFlow(
        _ resource: ResourceID,
        client: PhoenixChannel<ClientTopic>,
        clientEvents: EventLog<ClientInbound>,
        gateway: PhoenixChannel<GatewayTopic>,
        gatewayEvents: EventLog<GatewayInbound>
    ) async throws -> AuthorizeFlow {
        client.send(.createFlow(CreateFlow(resourceID: resource, connectedGatewayIDs: [])))
        let authorize = try await BrokeringTests.expect(gatewayEvents) {
            if case .authorizeFlow(let a) = $0 { a } else { nil }
        }
        gateway.send(.flowAuthorized(FlowAuthorized(ref: authorize.ref)))
        _ = try await BrokeringTests.expect(clientEvents) { if case .flowCreated(let f) = $0 { f } else { nil } }
        return authorize
    }

    /// The next `reject_access` or `access_authorization_expiry_updated` the gateway hears.
    static func nextAccessChange(_ events: EventLog<GatewayInbound>) async throws -> GatewayInbound {
        try await BrokeringTests.expect(events) { event -> GatewayInbound? in
            switch event {
            case .rejectAccess, .accessAuthorizationExpiryUpdated: event
            default: nil
            }
        }
    }

    @Test
    func anExpiredFlowIsRejectedAtTheGatewayAndTheClientMustAskAgain() async throws {
        let fixture = try await PortalFixture(configuration: Self.configuration(lanLifetime: 1))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (gateway, gatewayEvents) = try connectGateway(fixture, group: group)
        try await BrokeringTests.joined(gatewayEvents)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        try await BrokeringTests.joined(clientEvents)

        let start = UInt64(time(nil))
        let corp = try await Self.authorizedFlow(
            TestWorld.corp,
            client: client,
            clientEvents: clientEvents,
            gateway: gateway,
            gatewayEvents: gatewayEvents
        )
        let lan = try await Self.authorizedFlow(
            TestWorld.lan,
            client: client,
            clientEvents: clientEvents,
            gateway: gateway,
            gatewayEvents: gatewayEvents
        )
        // The policy's lifetime for the LAN; the file's for the rest.
        let lanExpiry = try #require(lan.expiresAt)
        let corpExpiry = try #require(corp.expiresAt)
        #expect((start + 1...start + 2).contains(lanExpiry), "\(lanExpiry) from \(start)")
        #expect((start + 3600...start + 3601).contains(corpExpiry), "\(corpExpiry) from \(start)")

        #expect(
            try await Self.nextAccessChange(gatewayEvents)
                == .rejectAccess(RejectAccess(clientID: TestWorld.client, resourceID: TestWorld.lan))
        )
        let (_, flows) = try await fixture.admin("GET", "/v1/flows")
        #expect(!flows.contains("res-lan") && flows.contains("res-corp"), "\(flows)")

        // A new flow is a new authorization, with a new expiry.
        let again = try await Self.authorizedFlow(
            TestWorld.lan,
            client: client,
            clientEvents: clientEvents,
            gateway: gateway,
            gatewayEvents: gatewayEvents
        )
        let againExpiry = try #require(again.expiresAt)
        #expect(again.ref != lan.ref && againExpiry >= lanExpiry)
        client.close()
        gateway.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func aFlowExpiringWhileAnotherStillAuthorizesThePairUpdatesTheExpiryInstead() async throws {
        let fixture = try await PortalFixture(configuration: Self.configuration(lanLifetime: 3))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (gateway, gatewayEvents) = try connectGateway(fixture, group: group)
        try await BrokeringTests.joined(gatewayEvents)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        try await BrokeringTests.joined(clientEvents)

        let first = try await Self.authorizedFlow(
            TestWorld.lan,
            client: client,
            clientEvents: clientEvents,
            gateway: gateway,
            gatewayEvents: gatewayEvents
        )
        // The second flow starts in a later second, so it ends later; it is authorized well before the first ends
        // (3 s lifetimes), so the first one's end finds it there.
        let second0 = UInt64(time(nil))
        while UInt64(time(nil)) == second0 {
            try await Task.sleep(for: .milliseconds(20))
        }
        let second = try await Self.authorizedFlow(
            TestWorld.lan,
            client: client,
            clientEvents: clientEvents,
            gateway: gateway,
            gatewayEvents: gatewayEvents
        )
        let secondExpiry = try #require(second.expiresAt)
        #expect(secondExpiry > (try #require(first.expiresAt)))

        #expect(
            try await Self.nextAccessChange(gatewayEvents)
                == .accessAuthorizationExpiryUpdated(
                    AccessAuthorizationExpiryUpdated(
                        clientID: TestWorld.client,
                        resourceID: TestWorld.lan,
                        expiresAt: secondExpiry
                    )
                )
        )
        #expect(
            try await Self.nextAccessChange(gatewayEvents)
                == .rejectAccess(RejectAccess(clientID: TestWorld.client, resourceID: TestWorld.lan))
        )
        client.close()
        gateway.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func anAuthorizationExpiryChangedThroughTheAdminAPIReachesTheGatewayServingThePair() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (gateway, gatewayEvents) = try connectGateway(fixture, group: group)
        try await BrokeringTests.joined(gatewayEvents)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        try await BrokeringTests.joined(clientEvents)
        _ = try await Self.authorizedFlow(
            TestWorld.lan,
            client: client,
            clientEvents: clientEvents,
            gateway: gateway,
            gatewayEvents: gatewayEvents
        )

        var (status, body) = try await fixture.admin(
            "PUT",
            "/v1/authorizations",
            body: #"{"client_id":"client-1","resource_id":"res-lan","expires_at":4000000000}"#
        )
        #expect(status == 200, "\(body)")
        #expect(
            try await Self.nextAccessChange(gatewayEvents)
                == .accessAuthorizationExpiryUpdated(
                    AccessAuthorizationExpiryUpdated(
                        clientID: TestWorld.client,
                        resourceID: TestWorld.lan,
                        expiresAt: 4_000_000_000
                    )
                )
        )
        (_, body) = try await fixture.admin("GET", "/v1/flows")
        #expect(
            body == #"[{"client_id":"client-1","expires_at":4000000000,"gateway_id":"gw-1","resource_id":"res-lan"}]"#
        )

        // The farthest expiry the field holds is taken as it is.
        (status, _) = try await fixture.admin(
            "PUT",
            "/v1/authorizations",
            body: #"{"client_id":"client-1","resource_id":"res-lan","expires_at":18446744073709551615}"#
        )
        #expect(status == 200)
        #expect(
            try await Self.nextAccessChange(gatewayEvents)
                == .accessAuthorizationExpiryUpdated(
                    AccessAuthorizationExpiryUpdated(
                        clientID: TestWorld.client,
                        resourceID: TestWorld.lan,
                        expiresAt: .max
                    )
                )
        )

        // An expiry already past: the gateway hears it, then the flow ends.
        (status, _) = try await fixture.admin(
            "PUT",
            "/v1/authorizations",
            body: #"{"client_id":"client-1","resource_id":"res-lan","expires_at":1}"#
        )
        #expect(status == 200)
        #expect(
            try await Self.nextAccessChange(gatewayEvents)
                == .accessAuthorizationExpiryUpdated(
                    AccessAuthorizationExpiryUpdated(
                        clientID: TestWorld.client,
                        resourceID: TestWorld.lan,
                        expiresAt: 1
                    )
                )
        )
        #expect(
            try await Self.nextAccessChange(gatewayEvents)
                == .rejectAccess(RejectAccess(clientID: TestWorld.client, resourceID: TestWorld.lan))
        )

        // No flow of the pair, or no pair at all.
        (status, _) = try await fixture.admin(
            "PUT",
            "/v1/authorizations",
            body: #"{"client_id":"client-1","resource_id":"res-corp","expires_at":4000000000}"#
        )
        #expect(status == 404)
        (status, _) = try await fixture.admin("PUT", "/v1/authorizations", body: #"{"client_id":"client-1"}"#)
        #expect(status == 400)
        client.close()
        gateway.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }
}
