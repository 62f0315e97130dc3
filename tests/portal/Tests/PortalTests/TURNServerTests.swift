import Glibc
import IPPacket
import NIOPosix
import PhoenixChannel
import PhoenixCore
import PortalMessages
import PortalServer
import PortalTestSupport
import Testing

/// TURN servers that are not Firezone relays, listed in the configuration.
@Suite(.timeLimit(.minutes(2)))
struct TURNServerTests {
    @Test
    func turnServersOfTheConfigurationReachClientsAndGatewaysLikeRelays() async throws {
        var configuration = PortalConfiguration.test
        configuration.turnServers = try PortalConfiguration.parse(
            #"""
            {"turn_servers": [{"id": "6f1d0a52-3c1e-4b7a-9d2f-0e8c5b4a3f21",
                               "address": ["192.0.2.10:3478", "[2001:db8::10]:3478"],
                               "username": "alice", "password": "s3cret"}]}
            """#
        ).turnServers
        let fixture = try await PortalFixture(configuration: configuration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        let (gateway, gatewayEvents) = try connectGateway(fixture, group: group)
        let clientInit = try await BrokeringTests.expect(clientEvents) {
            if case .initialize(let i) = $0 { i } else { nil }
        }
        let gatewayInit = try await BrokeringTests.expect(gatewayEvents) {
            if case .initialize(let i) = $0 { i } else { nil }
        }

        func entries(expiresAt: UInt64) -> [RelayEntry] {
            ["192.0.2.10:3478", "[2001:db8::10]:3478"].map {
                .turn(
                    TurnRelay(
                        id: RelayID("6f1d0a52-3c1e-4b7a-9d2f-0e8c5b4a3f21"),
                        address: IPSocketAddress($0)!,
                        username: "alice",
                        password: "s3cret",
                        expiresAt: expiresAt
                    )
                )
            }
        }
        // The client's expire with its token, the gateway's in 90 days, as relays' credentials do.
        #expect(clientInit.relays.elements == entries(expiresAt: 4_102_444_800))
        guard case .turn(let first)? = gatewayInit.relays.elements.first else {
            Issue.record("no TURN server for the gateway: \(gatewayInit.relays)")
            return
        }
        let ninetyDays = UInt64(time(nil)) + 90 * 86_400
        #expect((ninetyDays - 5...ninetyDays + 5).contains(first.expiresAt))
        #expect(gatewayInit.relays.elements == entries(expiresAt: first.expiresAt))
        client.close()
        gateway.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }
}
