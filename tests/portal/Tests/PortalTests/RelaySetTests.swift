import NIOPosix
import PhoenixChannel
import PortalMessages
import PortalServer
import PortalTestSupport
import Testing

/// A client, gateway or site with `relay_ids` is given only those relays, in `init` and in `relays_presence`, as
/// Firezone's portal gives each device the relays nearest to it.
@Suite(.timeLimit(.minutes(2)))
struct RelaySetTests {
    static let relay2 = RelayID("relay-2")

    static func configuration() throws -> PortalConfiguration {
        var configuration = PortalConfiguration.test
        configuration.relays += try PortalConfiguration.parse(#"{"relays":[{"id":"relay-2","token":"relay-2-token"}]}"#)
            .relays
        configuration.clients[0].relayIDs = [TestWorld.relay]
        configuration.sites[0].relayIDs = [Self.relay2]
        try configuration.validate()
        return configuration
    }

    @Test
    func eachComponentIsGivenOnlyItsRelaySet() async throws {
        let fixture = try await PortalFixture(configuration: try Self.configuration())
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        let (gateway, gatewayEvents) = try connectGateway(fixture, group: group)
        try await BrokeringTests.joined(clientEvents)
        try await BrokeringTests.joined(gatewayEvents)

        var relays: [PhoenixChannel<RelayTopic>] = []
        for name in ["relay-1", "relay-2"] {
            let (relay, relayEvents) = try connect(
                RelayTopic.self,
                to: fixture.apiURL,
                token: "\(name)-token",
                parameters: .relay(name: name, ipv4: "127.0.0.1", ipv6: nil, port: 3478),
                joinPayload: RelayJoin(stampSecret: String(repeating: "ab", count: 32)),
                group: group
            )
            try await BrokeringTests.expect(relayEvents) { $0 == .initialize ? () : nil }
            relays.append(relay)
        }

        // relay-1 joined first: the gateway's first presence is relay-2's, the client's relay-1's.
        let clientPresence = try await BrokeringTests.expect(clientEvents) {
            if case .relaysPresence(let p) = $0 { p } else { nil }
        }
        #expect(clientPresence.connected.elements.map(\.id) == [TestWorld.relay])
        let gatewayPresence = try await BrokeringTests.expect(gatewayEvents) {
            if case .relaysPresence(let p) = $0 { p } else { nil }
        }
        #expect(gatewayPresence.connected.elements.map(\.id) == [Self.relay2])

        // `init`: a gateway of the site gets the site's set; a client without a set gets every relay.
        let (late, lateEvents) = try connectGateway(fixture, token: "gw-2-token", key: TestWorld.key(3), group: group)
        let lateInit = try await BrokeringTests.expect(lateEvents) {
            if case .initialize(let i) = $0 { i } else { nil }
        }
        #expect(lateInit.relays.elements.map(\.id) == [Self.relay2])
        let (other, otherEvents) = try connectClient(
            fixture,
            token: "client-2-token",
            key: TestWorld.key(9),
            group: group
        )
        let otherInit = try await BrokeringTests.expect(otherEvents) {
            if case .initialize(let i) = $0 { i } else { nil }
        }
        #expect(otherInit.relays.elements.map(\.id) == [TestWorld.relay, Self.relay2])

        for channel in relays {
            channel.close()
        }
        client.close()
        gateway.close()
        late.close()
        other.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func aRelaySetNamingAnUnknownRelayIsRejected() throws {
        var configuration = PortalConfiguration.test
        configuration.sites[0].relayIDs = [Self.relay2]
        #expect(throws: PortalConfigurationError.self) { try configuration.validate() }
    }
}
