import FirezoneCrypto
import Glibc
import IPPacket
import NIOPosix
import PhoenixChannel
import PhoenixCore
import PortalMessages
import PortalServer
import PortalTestSupport
import RelayCore
import Testing

/// The portal's flow brokering, candidate forwarding and pushes, with scripted clients and gateways (the
/// phoenix-channel library) over real sockets.
@Suite(.timeLimit(.minutes(2)))
struct BrokeringTests {
    /// Waits for the next message of a channel that `extract` recognises.
    static func expect<Inbound, T>(
        _ events: EventLog<Inbound>,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ extract: @escaping (Inbound) -> T?
    ) async throws -> T {
        try await events.next(sourceLocation: sourceLocation) { $0.message.flatMap(extract) }
    }

    static func joined<Inbound>(_ events: EventLog<Inbound>) async throws {
        try await events.next { $0 == .joined ? () : nil }
    }

    /// What the portal pushed to a client until now: a flow to a resource nobody has is refused on the client's
    /// socket after those pushes, since one socket's frames keep their order.
    static func pushedSoFar(
        _ client: PhoenixChannel<ClientTopic>,
        _ events: EventLog<ClientInbound>
    ) async throws -> [PhoenixEvent<ClientInbound>] {
        let marker = ResourceID("res-marker")
        client.send(.createFlow(CreateFlow(resourceID: marker, connectedGatewayIDs: [])))
        return try await events.eventsBefore {
            if case .flowCreationFailed(let failure)? = $0.message { failure.resourceID == marker } else { false }
        }
    }

    /// What the portal pushed to a gateway until now: authorizing a flow that does not exist is answered with an
    /// error on the gateway's socket after those pushes.
    static func pushedSoFar(
        _ gateway: PhoenixChannel<GatewayTopic>,
        _ events: EventLog<GatewayInbound>
    ) async throws -> [PhoenixEvent<GatewayInbound>] {
        gateway.send(.flowAuthorized(FlowAuthorized(ref: "ref-marker")))
        return try await events.eventsBefore { $0 == .errorReply(reason: "not_found") }
    }

    /// Waits until the admin API's presence report satisfies `condition`.
    static func presence(
        of fixture: PortalFixture,
        sourceLocation: SourceLocation = #_sourceLocation,
        until condition: (String) -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        var presence = ""
        while ContinuousClock.now < deadline {
            presence = try await fixture.admin("GET", "/v1/presence").1
            if condition(presence) {
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("presence never matched: \(presence)", sourceLocation: sourceLocation)
        throw TimedOut()
    }

    @Test
    func aFlowGoesFromClientToGatewayAndBackWithDeterministicCredentials() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (gateway, gatewayEvents) = try connectGateway(fixture, group: group)
        let gatewayInit = try await Self.expect(gatewayEvents) { if case .initialize(let i) = $0 { i } else { nil } }
        #expect(gatewayInit.interface.ipv4.description == "100.64.0.3")
        #expect(gatewayInit.accountSlug == "test")
        #expect(gatewayInit.config == GatewayConfig(ipv4MasqueradeEnabled: true, ipv6MasqueradeEnabled: true))
        let (client, clientEvents) = try connectClient(fixture, group: group)
        try await Self.joined(clientEvents)

        var credentials: [(FlowCreated, AuthorizeFlow)] = []
        for _ in 0..<2 {
            client.send(.createFlow(CreateFlow(resourceID: TestWorld.lan, connectedGatewayIDs: [])))
            let authorize = try await Self.expect(gatewayEvents) {
                if case .authorizeFlow(let a) = $0 { a } else { nil }
            }
            #expect(authorize.resource.id == TestWorld.lan)
            #expect(authorize.client.id == TestWorld.client)
            #expect(authorize.client.publicKey == TestWorld.key(1))
            #expect(authorize.client.ipv4.description == "100.64.0.1")
            #expect(authorize.expiresAt == 4_102_444_800)
            #expect(authorize.clientIceCredentials.username.count == 4)
            #expect(authorize.clientIceCredentials.password.count == 22)
            #expect(authorize.gatewayIceCredentials.username.count == 4)
            #expect(authorize.clientIceCredentials != authorize.gatewayIceCredentials)
            gateway.send(.flowAuthorized(FlowAuthorized(ref: authorize.ref)))
            let created = try await Self.expect(clientEvents) { if case .flowCreated(let f) = $0 { f } else { nil } }
            #expect(created.resourceID == TestWorld.lan)
            #expect(created.gatewayID == TestWorld.gateway1)
            #expect(created.siteID == TestWorld.site)
            #expect(created.gatewayPublicKey == TestWorld.key(2))
            #expect(created.gatewayIPv4.description == "100.64.0.3")
            #expect(created.gatewayIPv6.description == "fd00:2021:1111::3")
            #expect(created.presharedKey == authorize.client.presharedKey)
            #expect(created.clientIceCredentials == authorize.clientIceCredentials)
            #expect(created.gatewayIceCredentials == authorize.gatewayIceCredentials)
            credentials.append((created, authorize))
        }
        // A repeated flow of the same pair yields the same keys and credentials, so the connection is reused.
        #expect(credentials[0].0 == credentials[1].0)
        #expect(credentials[0].1.ref != credentials[1].1.ref)
        let (_, flows) = try await fixture.admin("GET", "/v1/flows")
        #expect(
            flows == #"[{"client_id":"client-1","expires_at":4102444800,"gateway_id":"gw-1","resource_id":"res-lan"}]"#
        )
        client.close()
        gateway.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func flowsFailWithNotFoundForbiddenOrOffline() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        try await Self.joined(clientEvents)
        let cases: [(ResourceID, FlowFailureReason, [String]?)] = [
            (ResourceID("no-such-resource"), .notFound, nil),
            // Exists, but no policy of the client's groups grants it.
            (TestWorld.hidden, .notFound, nil),
            // The policy requires 10.0.0.0/8; we connect from 127.0.0.1.
            (TestWorld.remote, .forbidden, ["remote_ip"]),
            // Site B's gateway is not connected; and site A's gateways are not either.
            (TestWorld.elsewhere, .offline, nil),
            (TestWorld.lan, .offline, nil),
        ]
        for (resource, reason, violated) in cases {
            client.send(.createFlow(CreateFlow(resourceID: resource, connectedGatewayIDs: [])))
            let failure = try await Self.expect(clientEvents) {
                if case .flowCreationFailed(let f) = $0 { f } else { nil }
            }
            #expect(failure == FlowCreationFailed(resourceID: resource, reason: reason, violatedProperties: violated))
        }
        client.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func aGatewayTheClientIsConnectedToIsPreferredWhileOnline() async throws {
        var options = Portal.Options.test
        options.gatewaySelectionSeed = 7
        let fixture = try await PortalFixture(options: options)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (gateway1, events1) = try connectGateway(fixture, group: group)
        let (gateway2, events2) = try connectGateway(fixture, token: "gw-2-token", key: TestWorld.key(3), group: group)
        _ = try await Self.expect(events1) { if case .initialize(let i) = $0 { i } else { nil } }
        try await Self.joined(events2)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        try await Self.joined(clientEvents)

        func flow(
            _ resource: ResourceID,
            connected: [GatewayID],
            via gateway: PhoenixChannel<GatewayTopic>,
            _ events: EventLog<GatewayInbound>
        ) async throws -> GatewayID {
            client.send(.createFlow(CreateFlow(resourceID: resource, connectedGatewayIDs: connected)))
            let created = try await Self.expect(events) { if case .authorizeFlow(let a) = $0 { a } else { nil } }
            gateway.send(.flowAuthorized(FlowAuthorized(ref: created.ref)))
            return try await Self.expect(clientEvents) { if case .flowCreated(let f) = $0 { f.gatewayID } else { nil } }
        }
        // Each of these would go to gw-1 half of the time if the connected gateway were not preferred.
        for resource in [TestWorld.lan, TestWorld.corp, TestWorld.lan, TestWorld.corp, TestWorld.lan, TestWorld.corp] {
            #expect(
                try await flow(resource, connected: [TestWorld.gateway2], via: gateway2, events2) == TestWorld.gateway2
            )
        }
        #expect(try await Self.pushedSoFar(gateway1, events1).isEmpty)
        // An offline gateway is skipped, even when the client names it.
        gateway2.close()
        try await Self.presence(of: fixture) { $0.contains(#""gateways":["gw-1"]"#) }
        #expect(
            try await flow(TestWorld.corp, connected: [TestWorld.gateway2], via: gateway1, events1)
                == TestWorld.gateway1
        )
        client.close()
        gateway1.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func candidatesAreForwardedBetweenThePairOnly() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (gateway, gatewayEvents) = try connectGateway(fixture, group: group)
        let (other, otherEvents) = try connectGateway(fixture, token: "gw-2-token", key: TestWorld.key(3), group: group)
        try await Self.joined(gatewayEvents)
        try await Self.joined(otherEvents)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        try await Self.joined(clientEvents)
        // Named as connected, gw-1 is the one asked (gw-2 would be as likely otherwise).
        client.send(.createFlow(CreateFlow(resourceID: TestWorld.lan, connectedGatewayIDs: [TestWorld.gateway1])))
        let authorize = try await Self.expect(gatewayEvents) { if case .authorizeFlow(let a) = $0 { a } else { nil } }

        let host = "candidate:1 1 udp 2130706431 192.0.2.1 52625 typ host"
        let srflx = "candidate:2 1 udp 1694498815 198.51.100.1 52625 typ srflx raddr 0.0.0.0 rport 0"
        // Candidates may flow while the authorization is still pending.
        gateway.send(.broadcastIceCandidates(ClientsIceCandidates(clientIDs: [TestWorld.client], candidates: [host])))
        #expect(
            try await Self.expect(clientEvents) { if case .iceCandidates(let c) = $0 { c } else { nil } }
                == GatewayIceCandidates(gatewayID: TestWorld.gateway1, candidates: [host])
        )
        gateway.send(.flowAuthorized(FlowAuthorized(ref: authorize.ref)))
        client.send(
            .broadcastIceCandidates(
                GatewaysIceCandidates(gatewayIDs: [TestWorld.gateway1, TestWorld.gateway2], candidates: [host, srflx])
            )
        )
        #expect(
            try await Self.expect(gatewayEvents) { if case .iceCandidates(let c) = $0 { c } else { nil } }
                == ClientIceCandidates(clientID: TestWorld.client, candidates: [host, srflx])
        )
        client.send(
            .broadcastInvalidatedIceCandidates(
                GatewaysIceCandidates(gatewayIDs: [TestWorld.gateway1], candidates: [srflx])
            )
        )
        #expect(
            try await Self.expect(gatewayEvents) { if case .invalidateIceCandidates(let c) = $0 { c } else { nil } }
                == ClientIceCandidates(clientID: TestWorld.client, candidates: [srflx])
        )
        gateway.send(
            .broadcastInvalidatedIceCandidates(ClientsIceCandidates(clientIDs: [TestWorld.client], candidates: [host]))
        )
        #expect(
            try await Self.expect(clientEvents) { if case .invalidateIceCandidates(let c) = $0 { c } else { nil } }
                == GatewayIceCandidates(gatewayID: TestWorld.gateway1, candidates: [host])
        )
        // gw-2 has no flow with the client: it heard nothing of the broadcast that named it, which the portal
        // handled before gw-1 received its copy.
        _ = try await Self.expect(otherEvents) { if case .initialize(let initial) = $0 { initial } else { nil } }
        let heardByOther = try await Self.pushedSoFar(other, otherEvents)
        #expect(heardByOther.isEmpty, "\(heardByOther)")
        client.close()
        gateway.close()
        other.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func relaysJoinWithTheirSecretAndClientsAndGatewaysGetMintedCredentials() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        let (gateway, gatewayEvents) = try connectGateway(fixture, group: group)
        try await Self.joined(clientEvents)
        try await Self.joined(gatewayEvents)

        let secret = "4f7c9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f"
        let (relay, relayEvents) = try connect(
            RelayTopic.self,
            to: fixture.apiURL,
            token: "relay-1-token",
            parameters: .relay(name: "relay-1", ipv4: "127.0.0.1", ipv6: "::1", port: 3478),
            joinPayload: RelayJoin(stampSecret: secret),
            group: group
        )
        try await Self.joined(relayEvents)
        try await Self.expect(relayEvents) { $0 == .initialize ? () : nil }

        let presence = try await Self.expect(clientEvents) { if case .relaysPresence(let p) = $0 { p } else { nil } }
        #expect(presence.disconnectedIDs == [])
        let entries = presence.connected.elements
        #expect(entries.map(\.id) == [TestWorld.relay, TestWorld.relay])
        for entry in entries {
            guard case .turn(let turn) = entry else {
                Issue.record("not a TURN relay: \(entry)")
                continue
            }
            // Clients' credentials expire with their token; the relay can check them with its secret.
            #expect(turn.expiresAt == 4_102_444_800)
            #expect(turn.username.hasPrefix("4102444800:"))
            #expect(RelayCredentials.password(username: turn.username, secret: secret) == turn.password)
        }
        #expect(
            entries.compactMap { if case .turn(let t) = $0 { t.address.description } else { nil } } == [
                "127.0.0.1:3478", "[::1]:3478",
            ]
        )

        let gatewayPresence = try await Self.expect(gatewayEvents) {
            if case .relaysPresence(let p) = $0 { p } else { nil }
        }
        guard case .turn(let gatewayRelay)? = gatewayPresence.connected.elements.first else {
            Issue.record("no relay for the gateway")
            return
        }
        // Gateways' credentials last 90 days.
        let ninetyDays = UInt64(90 * 86_400)
        let now = UInt64(time(nil))
        #expect(gatewayRelay.expiresAt >= now + ninetyDays - 5 && gatewayRelay.expiresAt <= now + ninetyDays + 5)

        // A client that joins now gets the relay in its init.
        let (late, lateEvents) = try connectClient(
            fixture,
            token: "client-2-token",
            key: TestWorld.key(9),
            group: group
        )
        let lateInit = try await Self.expect(lateEvents) { if case .initialize(let i) = $0 { i } else { nil } }
        #expect(lateInit.relays.elements.map(\.id) == [TestWorld.relay, TestWorld.relay])
        #expect(lateInit.resources.elements.isEmpty)

        // The relay leaves: after the debounce, everyone hears it.
        relay.close()
        let gone = try await Self.expect(clientEvents) { if case .relaysPresence(let p) = $0 { p } else { nil } }
        #expect(gone == RelaysPresence(disconnectedIDs: [TestWorld.relay], connected: []))
        let (_, presenceReport) = try await fixture.admin("GET", "/v1/presence")
        #expect(presenceReport == #"{"clients":["client-1","client-2"],"gateways":["gw-1"],"relays":[]}"#)
        client.close()
        late.close()
        gateway.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func aRelayBackWithinTheDebounceIsSilentUnlessItsSecretChanged() async throws {
        var options = Portal.Options.test
        options.relayLeaveDebounce = .seconds(2)
        let fixture = try await PortalFixture(options: options)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        try await Self.joined(clientEvents)
        func relay(secret: String) async throws -> PhoenixChannel<RelayTopic> {
            let (channel, events) = try connect(
                RelayTopic.self,
                to: fixture.apiURL,
                token: "relay-1-token",
                parameters: .relay(name: nil, ipv4: "127.0.0.1", ipv6: nil, port: 3478),
                joinPayload: RelayJoin(stampSecret: secret),
                group: group
            )
            try await Self.joined(events)
            return channel
        }
        func presence() async throws -> RelaysPresence {
            try await Self.expect(clientEvents) { if case .relaysPresence(let p) = $0 { p } else { nil } }
        }
        var channel = try await relay(secret: "aa")
        #expect(try await presence().disconnectedIDs == [])
        // Gone and back with the same secret inside the debounce: nobody hears of it.
        channel.close()
        try await Task.sleep(for: .milliseconds(200))
        channel = try await relay(secret: "aa")
        #expect(try await Self.pushedSoFar(client, clientEvents).isEmpty)
        // Back with another secret: its old allocations are gone, so it is reported gone and new at once.
        channel.close()
        try await Task.sleep(for: .milliseconds(200))
        channel = try await relay(secret: "bb")
        let changed = try await presence()
        #expect(changed.disconnectedIDs == [TestWorld.relay])
        guard case .turn(let entry)? = changed.connected.elements.first else {
            Issue.record("no relay entry: \(changed)")
            return
        }
        #expect(RelayCredentials.password(username: entry.username, secret: "bb") == entry.password)
        channel.close()
        client.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func adminChangesReachClientsAndGateways() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (gateway, gatewayEvents) = try connectGateway(fixture, group: group)
        try await Self.joined(gatewayEvents)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        try await Self.joined(clientEvents)
        for resource in [TestWorld.lan, TestWorld.corp] {
            client.send(.createFlow(CreateFlow(resourceID: resource, connectedGatewayIDs: [])))
            let authorize = try await Self.expect(gatewayEvents) {
                if case .authorizeFlow(let a) = $0 { a } else { nil }
            }
            gateway.send(.flowAuthorized(FlowAuthorized(ref: authorize.ref)))
            _ = try await Self.expect(clientEvents) { if case .flowCreated(let f) = $0 { f } else { nil } }
        }

        // Filters change: the gateway serving the resource gets resource_updated.
        var (status, body) = try await fixture.admin(
            "PUT",
            "/v1/resources",
            body:
                #"{"id":"res-corp","type":"dns","address":"*.corp.example","name":"Corp","site_ids":["site-a"],"filters":[{"protocol":"udp"}]}"#
        )
        #expect(status == 200, "\(body)")
        let updated = try await Self.expect(gatewayEvents) { if case .resourceUpdated(let r) = $0 { r } else { nil } }
        #expect(
            updated == .dns(id: TestWorld.corp, address: "*.corp.example", name: "Corp", filters: [.udp(ports: nil)])
        )
        _ = try await Self.expect(clientEvents) {
            if case .resourceCreatedOrUpdated(let r) = $0, r.id == TestWorld.corp { r } else { nil }
        }

        // Revoking one client's access: the client forgets the resource, the gateway rejects the pair.
        (status, _) = try await fixture.admin("POST", "/v1/clients/client-1/revoke/res-lan")
        #expect(status == 200)
        #expect(
            try await Self.expect(clientEvents) { if case .resourceDeleted(let id) = $0 { id } else { nil } }
                == TestWorld.lan
        )
        #expect(
            try await Self.expect(gatewayEvents) { if case .rejectAccess(let r) = $0 { r } else { nil } }
                == RejectAccess(clientID: TestWorld.client, resourceID: TestWorld.lan)
        )
        client.send(.createFlow(CreateFlow(resourceID: TestWorld.lan, connectedGatewayIDs: [])))
        #expect(
            try await Self.expect(clientEvents) { if case .flowCreationFailed(let f) = $0 { f.reason } else { nil } }
                == FlowFailureReason.notFound
        )

        // A deleted resource goes, and its flows end; added again, it comes back (its policy still grants it).
        (status, _) = try await fixture.admin("DELETE", "/v1/resources/res-corp")
        #expect(status == 200)
        #expect(
            try await Self.expect(clientEvents) { if case .resourceDeleted(let id) = $0 { id } else { nil } }
                == TestWorld.corp
        )
        #expect(
            try await Self.expect(gatewayEvents) { if case .rejectAccess(let r) = $0 { r } else { nil } }
                == RejectAccess(clientID: TestWorld.client, resourceID: TestWorld.corp)
        )
        (status, _) = try await fixture.admin(
            "PUT",
            "/v1/resources",
            body: #"{"id":"res-corp","type":"dns","address":"*.corp.example","site_ids":["site-a"]}"#
        )
        #expect(status == 200)
        let added = try await Self.expect(clientEvents) {
            if case .resourceCreatedOrUpdated(let r) = $0 { r } else { nil }
        }
        #expect(
            added
                == .dns(
                    DNSResource(
                        id: TestWorld.corp,
                        address: "*.corp.example",
                        name: "*.corp.example",
                        addressDescription: nil,
                        sites: [Site(id: TestWorld.site, name: "Site A")],
                        ipStack: nil
                    )
                )
        )
        // A resource no policy grants reaches nobody.
        (status, _) = try await fixture.admin(
            "PUT",
            "/v1/resources",
            body: #"{"id":"res-new","type":"cidr","address":"192.168.7.0/24","site_ids":["site-a"]}"#
        )
        #expect(status == 200)
        #expect(try await Self.pushedSoFar(client, clientEvents).isEmpty)
        #expect(try await Self.pushedSoFar(gateway, gatewayEvents).isEmpty)

        // Bad admin input is refused with a reason.
        (status, body) = try await fixture.admin(
            "PUT",
            "/v1/resources",
            body: #"{"id":"x","type":"cidr","address":"10.0.0.1/8","site_ids":["site-a"]}"#
        )
        #expect(status == 400)
        #expect(body.contains("host bits zero"))
        (status, body) = try await fixture.admin("PUT", "/v1/resources", body: "{")
        #expect(status == 400)
        (status, _) = try await fixture.admin("DELETE", "/v1/resources/none")
        #expect(status == 404)
        client.close()
        gateway.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }
}
