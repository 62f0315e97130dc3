import FirezoneCrypto
import IPPacket
import PortalMessages
import Testing

/// The events of the `client` and `gateway` topics that no fixture covers, in the shapes the Firezone portal of
/// 685acdac3a pushes and accepts (elixir/apps/api/lib/api/{client,gateway}/channel.ex and their views;
/// rust/connlib/tunnel/src/messages/{client,gateway}.rs).
///
/// Inbound: literal JSON decoded and compared field by field. Outbound: our encoding parsed and compared as a JSON
/// value with a literal, so that member order does not matter but every member and value does.
struct SeedEraEventTests {
    typealias ClientOut = PhoenixMessage<ClientOutbound, EmptyPayload>
    typealias GatewayOut = PhoenixMessage<GatewayOutbound, EmptyPayload>

    static let client = "3abd725a-733b-4801-ac16-72f26cd98a24"
    static let resource = "c7793628-8579-465b-83e3-1a5d4af4db3b"
    static let gateway = "b3d34a15-55ab-40df-994b-a838e75d65d7"
    static let otherGateway = "d263d490-a0bb-452a-8990-01d27a1f1144"
    static let hostCandidate = "candidate:7031633958891736544 1 udp 2130706431 172.28.0.100 52625 typ host"
    static let relayCandidate =
        "candidate:7854631899965427361 1 udp 16777215 35.244.108.190 53909 typ relay raddr 0.0.0.0 rport 0"

    /// Our encoding of `message` equals `literal` as a JSON value.
    func expectEncoding(
        _ encoded: String,
        equals literal: String,
        sourceLocation: SourceLocation = #_sourceLocation
    )
        throws
    {
        let ours = try JSONTree(parsing: encoded)
        let expected = try JSONTree(parsing: literal)
        #expect(ours == expected, "ours: \(ours)\nexpected: \(expected)", sourceLocation: sourceLocation)
    }

    // MARK: Gateway, inbound

    /// Sent when a flow ends while another one still authorizes the pair (`handle_info` of a deleted flow in
    /// elixir/apps/api/lib/api/gateway/channel.ex): the authorization lives on with the new expiry.
    @Test
    func accessAuthorizationExpiryUpdatedCarriesThePairAndTheNewExpiry() throws {
        let text = """
            {"topic":"gateway","event":"access_authorization_expiry_updated","ref":null,
             "payload":{"client_id":"\(Self.client)","resource_id":"\(Self.resource)","expires_at":1729813989}}
            """
        let message = try PortalCodec.decode(text, as: GatewayMessage.self)
        guard case .event(.accessAuthorizationExpiryUpdated(let update)) = message.body else {
            Issue.record("not access_authorization_expiry_updated: \(message.body)")
            return
        }
        #expect(message.topic == "gateway")
        #expect(update.clientID == ClientID(Self.client))
        #expect(update.resourceID == ResourceID(Self.resource))
        #expect(update.expiresAt == 1_729_813_989)
    }

    @Test
    func rejectAccessNamesTheClientAndTheResource() throws {
        let text = """
            {"topic":"gateway","event":"reject_access","ref":null,
             "payload":{"client_id":"\(Self.client)","resource_id":"\(Self.resource)"}}
            """
        let message = try PortalCodec.decode(text, as: GatewayMessage.self)
        guard case .event(.rejectAccess(let reject)) = message.body else {
            Issue.record("not reject_access: \(message.body)")
            return
        }
        #expect(reject.clientID == ClientID(Self.client))
        #expect(reject.resourceID == ResourceID(Self.resource))
    }

    @Test
    func gatewayIceCandidatesNameTheClient() throws {
        let text = """
            {"topic":"gateway","event":"ice_candidates","ref":null,
             "payload":{"client_id":"\(Self.client)","candidates":["\(Self.hostCandidate)","\(Self.relayCandidate)"]}}
            """
        let message = try PortalCodec.decode(text, as: GatewayMessage.self)
        guard case .event(.iceCandidates(let candidates)) = message.body else {
            Issue.record("not ice_candidates: \(message.body)")
            return
        }
        #expect(candidates.clientID == ClientID(Self.client))
        #expect(candidates.candidates == [Self.hostCandidate, Self.relayCandidate])
    }

    /// The portal's `authorize_flow` also carries `actor` and `flow_id`, which the gateway does not use.
    @Test
    func unknownFieldsOfGatewayEventsAreIgnored() throws {
        let text = """
            {"topic":"gateway","event":"access_authorization_expiry_updated","ref":null,"join_ref":null,
             "payload":{"client_id":"\(Self.client)","resource_id":"\(Self.resource)","expires_at":5,
                        "flow_id":"eeb66205-5f53-4f64-acbc-deed47293f04","actor":{"id":"24eb631e"}}}
            """
        let message = try PortalCodec.decode(text, as: GatewayMessage.self)
        let expected = AccessAuthorizationExpiryUpdated(
            clientID: ClientID(Self.client),
            resourceID: ResourceID(Self.resource),
            expiresAt: 5
        )
        #expect(message.body == .event(.accessAuthorizationExpiryUpdated(expected)))
    }

    /// The events of gateways up to 1.3, which the portal marks "DEPRECATED IN 1.4", are not modelled: they arrive
    /// as unknown events, never as errors.
    @Test(arguments: ["request_connection", "allow_access", "some_future_event"])
    func eventsOutsideTheGatewayTopicAreReportedAsUnknown(_ event: String) throws {
        let text = """
            {"topic":"gateway","event":"\(event)","ref":null,
             "payload":{"ref":"r","client_id":"\(Self.client)","expires_at":1}}
            """
        let message = try PortalCodec.decode(text, as: GatewayMessage.self)
        #expect(message.body == .unknown(event: event))
    }

    @Test(arguments: [
        (
            "access_authorization_expiry_updated",
            #"{"client_id":"c","resource_id":"r","expires_at":"tomorrow"}"#
        ),
        ("access_authorization_expiry_updated", #"{"client_id":"c","resource_id":"r"}"#),
        ("reject_access", #"{"client_id":"c"}"#),
        ("authorize_flow", #"{"ref":"x","expires_at":1}"#),
        ("ice_candidates", #"{"client_id":"c","candidates":"candidate:1 1 udp 1 1.1.1.1 1 typ host"}"#),
        ("resource_updated", #"{"id":"r","type":"dns","name":"n"}"#),
        ("init", #"{"interface":{"ipv4":"100.64.0.1"}}"#),
    ])
    func malformedGatewayPayloadsAreTypedErrorsNamingTheEvent(event: String, payload: String) {
        let text = #"{"topic":"gateway","event":"\#(event)","ref":7,"payload":\#(payload)}"#
        #expect {
            try PortalCodec.decode(text, as: GatewayMessage.self)
        } throws: { error in
            guard let error = error as? PortalDecodingError else { return false }
            return error.kind == .malformedPayload && error.event == event && error.ref == .number(7)
        }
    }

    // MARK: Gateway, outbound

    /// The answer to `authorize_flow`: the opaque ref alone, unchanged.
    @Test
    func flowAuthorizedEchoesTheRef() throws {
        let ref = "SFMyNTY.g2gDbQAAAkxn.5-aLUjF4RiPoYASwWYfSmWuTEc4cT0u8J9cyBUiP9BY"
        let message = GatewayOut(
            topic: "gateway",
            body: .event(.flowAuthorized(FlowAuthorized(ref: ref))),
            ref: .number(4)
        )
        try self.expectEncoding(
            PortalCodec.encode(message),
            equals: #"{"topic":"gateway","event":"flow_authorized","ref":4,"payload":{"ref":"\#(ref)"}}"#
        )
    }

    @Test
    func gatewayBroadcastsCandidatesToClients() throws {
        let candidates = ClientsIceCandidates(
            clientIDs: [ClientID(Self.client)],
            candidates: [Self.hostCandidate, Self.relayCandidate]
        )
        let expectedPayload =
            #"{"client_ids":["\#(Self.client)"],"candidates":["\#(Self.hostCandidate)","\#(Self.relayCandidate)"]}"#
        try self.expectEncoding(
            PortalCodec.encode(
                GatewayOut(topic: "gateway", body: .event(.broadcastIceCandidates(candidates)), ref: .number(5))
            ),
            equals: #"{"topic":"gateway","event":"broadcast_ice_candidates","ref":5,"payload":\#(expectedPayload)}"#
        )
        try self.expectEncoding(
            PortalCodec.encode(
                GatewayOut(
                    topic: "gateway",
                    body: .event(.broadcastInvalidatedIceCandidates(candidates)),
                    ref: .number(6)
                )
            ),
            equals: """
                {"topic":"gateway","event":"broadcast_invalidated_ice_candidates","ref":6,"payload":\(expectedPayload)}
                """
        )
    }

    // MARK: Client, inbound

    @Test
    func resourceCreatedOrUpdatedReadsEachResourceType() throws {
        let dns = """
            {"topic":"client","event":"resource_created_or_updated","ref":null,"payload":{
             "id":"\(Self.resource)","type":"dns","address":"*.httpbin.search.test","name":"httpbin",
             "address_description":"wildcard","ip_stack":"ipv4_only",
             "gateway_groups":[{"id":"bf56f32d-7b2c-4f5d-a784-788977d014a4","name":"site"}],
             "filters":[{"protocol":"tcp","port_range_start":80,"port_range_end":80}]}}
            """
        guard
            case .event(.resourceCreatedOrUpdated(.dns(let resource))) =
                try PortalCodec.decode(dns, as: ClientMessage.self).body
        else {
            Issue.record("not a DNS resource")
            return
        }
        #expect(resource.id == ResourceID(Self.resource))
        #expect(resource.address == "*.httpbin.search.test")
        #expect(resource.name == "httpbin")
        #expect(resource.addressDescription == "wildcard")
        #expect(resource.ipStack == "ipv4_only")
        #expect(resource.sites == [Site(id: SiteID("bf56f32d-7b2c-4f5d-a784-788977d014a4"), name: "site")])

        let cidr = """
            {"topic":"client","event":"resource_created_or_updated","ref":null,"payload":{
             "id":"\(Self.resource)","type":"cidr","address":"172.20.0.0/16","name":"corp","gateway_groups":[]}}
            """
        guard
            case .event(.resourceCreatedOrUpdated(.cidr(let network))) =
                try PortalCodec.decode(cidr, as: ClientMessage.self).body
        else {
            Issue.record("not a CIDR resource")
            return
        }
        #expect(network.address == IPNetwork("172.20.0.0/16"))
        #expect(network.addressDescription == nil)
        #expect(network.sites == [])

        // The portal sends no name for the Internet resource, and `can_be_disabled`.
        let internet = """
            {"topic":"client","event":"resource_created_or_updated","ref":null,"payload":{
             "id":"\(Self.resource)","type":"internet","can_be_disabled":true,
             "gateway_groups":[{"id":"bf56f32d-7b2c-4f5d-a784-788977d014a4","name":"internet"}]}}
            """
        guard
            case .event(.resourceCreatedOrUpdated(.internet(let everything))) =
                try PortalCodec.decode(internet, as: ClientMessage.self).body
        else {
            Issue.record("not the Internet resource")
            return
        }
        #expect(everything.name == nil)
        #expect(everything.canBeDisabled == true)
        #expect(everything.sites.map(\.name) == ["internet"])
    }

    @Test
    func resourceDeletedCarriesTheIdAlone() throws {
        let text = #"{"topic":"client","event":"resource_deleted","ref":null,"payload":"\#(Self.resource)"}"#
        let message = try PortalCodec.decode(text, as: ClientMessage.self)
        #expect(message.body == .event(.resourceDeleted(ResourceID(Self.resource))))
    }

    /// `forbidden` comes with the policy conditions that failed (rust/connlib/tunnel/src/messages/client.rs).
    @Test
    func flowCreationFailedForbiddenListsTheViolatedProperties() throws {
        let text = """
            {"topic":"client","event":"flow_creation_failed","ref":null,"payload":{
             "resource_id":"\(Self.resource)","reason":"forbidden",
             "violated_properties":["remote_ip_location_region","client_verified"]}}
            """
        let message = try PortalCodec.decode(text, as: ClientMessage.self)
        let expected = FlowCreationFailed(
            resourceID: ResourceID(Self.resource),
            reason: .forbidden,
            violatedProperties: ["remote_ip_location_region", "client_verified"]
        )
        #expect(message.body == .event(.flowCreationFailed(expected)))
        let notFound = text.replacingOccurrences(of: #""forbidden""#, with: #""not_found""#)
        guard
            case .event(.flowCreationFailed(let failure)) = try PortalCodec.decode(notFound, as: ClientMessage.self)
                .body
        else {
            Issue.record("not flow_creation_failed")
            return
        }
        #expect(failure.reason == .notFound)
    }

    @Test(arguments: [
        ("flow_created", #"{"resource_id":"r","gateway_id":"g"}"#),
        ("flow_creation_failed", #"{"reason":"offline"}"#),
        ("resource_created_or_updated", #"{"id":"r","type":"cidr","name":"n","address":"not a network"}"#),
        ("config_changed", #"{"interface":{"ipv4":"100.64.0.1","ipv6":"fd00::zz"}}"#),
        ("ice_candidates", #"{"candidates":[]}"#),
        ("invalidate_ice_candidates", #"{"gateway_id":7,"candidates":[]}"#),
        ("relays_presence", #"{"disconnected_ids":"all","connected":[]}"#),
    ])
    func malformedClientPayloadsAreTypedErrorsNamingTheEvent(event: String, payload: String) {
        let text = #"{"topic":"client","event":"\#(event)","ref":null,"payload":\#(payload)}"#
        #expect {
            try PortalCodec.decode(text, as: ClientMessage.self)
        } throws: { error in
            guard let error = error as? PortalDecodingError else { return false }
            return error.kind == .malformedPayload && error.event == event && error.topic == "client"
        }
    }

    /// Client events of later Firezone versions and the device-pool events do not exist in Firezone 685acdac3a.
    @Test(arguments: ["gateway_ice_candidates", "authorization_created", "device_pool_updated"])
    func eventsOutsideTheClientTopicAreReportedAsUnknown(_ event: String) throws {
        let text = #"{"topic":"client","event":"\#(event)","ref":null,"payload":{"gateway_id":"g","candidates":[]}}"#
        let message = try PortalCodec.decode(text, as: ClientMessage.self)
        #expect(message.body == .unknown(event: event))
    }

    // MARK: Client, outbound

    /// `connected_gateway_ids` in UUID order, as connlib's `BTreeSet` serialises it
    /// (rust/connlib/tunnel/src/messages/client.rs).
    @Test
    func createFlowListsTheResourceAndTheConnectedGateways() throws {
        let flow = CreateFlow(
            resourceID: ResourceID(Self.resource),
            connectedGatewayIDs: [GatewayID(Self.gateway), GatewayID(Self.otherGateway)]
        )
        try self.expectEncoding(
            PortalCodec.encode(ClientOut(topic: "client", body: .event(.createFlow(flow)), ref: .number(2))),
            equals: """
                {"topic":"client","event":"create_flow","ref":2,"payload":{"resource_id":"\(Self.resource)",
                 "connected_gateway_ids":["\(Self.gateway)","\(Self.otherGateway)"]}}
                """
        )
    }

    @Test
    func clientBroadcastsCandidatesToGateways() throws {
        let candidates = GatewaysIceCandidates(
            gatewayIDs: [GatewayID(Self.gateway), GatewayID(Self.otherGateway)],
            candidates: [Self.relayCandidate]
        )
        let expectedPayload = """
            {"gateway_ids":["\(Self.gateway)","\(Self.otherGateway)"],"candidates":["\(Self.relayCandidate)"]}
            """
        try self.expectEncoding(
            PortalCodec.encode(
                ClientOut(topic: "client", body: .event(.broadcastIceCandidates(candidates)), ref: .number(8))
            ),
            equals: #"{"topic":"client","event":"broadcast_ice_candidates","ref":8,"payload":\#(expectedPayload)}"#
        )
        try self.expectEncoding(
            PortalCodec.encode(
                ClientOut(
                    topic: "client",
                    body: .event(.broadcastInvalidatedIceCandidates(candidates)),
                    ref: .number(9)
                )
            ),
            equals: """
                {"topic":"client","event":"broadcast_invalidated_ice_candidates","ref":9,"payload":\(expectedPayload)}
                """
        )
    }

    /// What we send, the portal's side reads back as the same value (our local portal decodes these).
    @Test
    func outboundEventsDecodeBackToTheSameValue() throws {
        let clientEvents: [ClientOutbound] = [
            .createFlow(CreateFlow(resourceID: ResourceID(Self.resource), connectedGatewayIDs: [])),
            .broadcastIceCandidates(GatewaysIceCandidates(gatewayIDs: [GatewayID(Self.gateway)], candidates: [])),
            .broadcastInvalidatedIceCandidates(
                GatewaysIceCandidates(gatewayIDs: [GatewayID(Self.gateway)], candidates: [Self.hostCandidate])
            ),
        ]
        for event in clientEvents {
            let message = ClientOut(topic: "client", body: .event(event), ref: .number(1))
            #expect(try PortalCodec.decode(PortalCodec.encode(message), as: ClientOut.self) == message)
        }
        let gatewayEvents: [GatewayOutbound] = [
            .flowAuthorized(FlowAuthorized(ref: "r")),
            .broadcastIceCandidates(ClientsIceCandidates(clientIDs: [ClientID(Self.client)], candidates: [])),
            .broadcastInvalidatedIceCandidates(
                ClientsIceCandidates(clientIDs: [ClientID(Self.client)], candidates: [Self.relayCandidate])
            ),
        ]
        for event in gatewayEvents {
            let message = GatewayOut(topic: "gateway", body: .event(event), ref: .number(1))
            #expect(try PortalCodec.decode(PortalCodec.encode(message), as: GatewayOut.self) == message)
        }
    }
}
