import IPPacket
import NIOPosix
import PhoenixChannel
import PhoenixCore
import PortalMessages
import PortalServer
import PortalTestSupport
import Testing

/// `PATCH /v1/interface`: clients hear `config_changed`.
@Suite(.timeLimit(.minutes(2)))
struct ConfigChangedTests {
    @Test
    func anInterfaceChangedThroughTheAdminAPIReachesEveryClientAsConfigChanged() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (client, clientEvents) = try connectClient(fixture, group: group)
        let initial = try await BrokeringTests.expect(clientEvents) {
            if case .initialize(let i) = $0 { i } else { nil }
        }

        var (status, body) = try await fixture.admin(
            "PATCH",
            "/v1/interface",
            body: #"{"upstream_dns":["9.9.9.9:53","[2620:fe::fe]:53"],"search_domain":null}"#
        )
        #expect(status == 200, "\(body)")
        let changed = try await BrokeringTests.expect(clientEvents) {
            if case .configChanged(let c) = $0 { c.interface } else { nil }
        }
        let upstream = [IPSocketAddress("9.9.9.9:53")!, IPSocketAddress("[2620:fe::fe]:53")!].map(UpstreamDNS.ipPort)
        #expect(
            changed
                == ClientInterface(
                    ipv4: initial.interface.ipv4,
                    ipv6: initial.interface.ipv6,
                    upstreamDNS: upstream,
                    searchDomain: nil
                )
        )

        // A key left out stays as it is; a client joining later starts from the new values.
        (status, _) = try await fixture.admin("PATCH", "/v1/interface", body: #"{"search_domain":"lab.example"}"#)
        #expect(status == 200)
        let second = try await BrokeringTests.expect(clientEvents) {
            if case .configChanged(let c) = $0 { c.interface } else { nil }
        }
        #expect(second.upstreamDNS == upstream && second.searchDomain == "lab.example")
        let (late, lateEvents) = try connectClient(
            fixture,
            token: "client-2-token",
            key: TestWorld.key(9),
            group: group
        )
        let lateInit = try await BrokeringTests.expect(lateEvents) {
            if case .initialize(let i) = $0 { i } else { nil }
        }
        #expect(lateInit.interface.upstreamDNS == upstream && lateInit.interface.searchDomain == "lab.example")

        (status, body) = try await fixture.admin("PATCH", "/v1/interface", body: #"{"upstream_dns":["9.9.9.9"]}"#)
        #expect(status == 400, "\(body)")
        client.close()
        late.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }
}
