import Connlib
import FirezoneCrypto
import FirezoneTesting
import Glibc
import IPPacket
import LinuxIO
import Logging
import MetricsTestKit
import NIOPosix
import PhoenixChannel
import PhoenixCore
import PortalMessages
import Testing
import WireGuard

/// The loop on a real TUN device and sockets (root: PrivilegedTests). The device stays down, without addresses,
/// and disappears when its descriptor closes.
@Suite(.enabled(if: PrivilegedTests.enabled))
struct GatewayEventLoopTests {
    @Test func aPortalInitCrossesToTheDataPlaneAndConfiguresTheInterface() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let url = try PortalURL(
            apiURL: "ws://127.0.0.1:9",
            topic: GatewayTopic.name,
            token: "token",
            parameters: .gateway(id: "id", name: "test", publicKey: "key")
        )
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let bridge = try PortalBridge<GatewayTopic>(
            configuration: .init(url: url, joinPayload: EmptyPayload(), partitionTime: nil, userAgent: "test"),
            group: group,
            logger: logger
        )
        let tun = "fzsh-loop0".withCString { fz_tun_open_offload($0) }
        try #require(tun >= 0)
        defer { close(tun) }
        let sockets = try TunnelSockets(
            buffers: UDPSocketBuffers(sendSize: 1 << 20, receiveSize: 1 << 20, raisesKernelLimits: false),
            port: 0
        )
        defer { sockets.close() }
        let metrics = TestMetrics()
        var configured: [GatewayInterface] = []
        let loop = try GatewayEventLoop(
            secret: StaticSecret(try #require(Bytes32([UInt8](repeating: 7, count: 32)))),
            sockets: sockets,
            tun: tun,
            portal: bridge,
            nameservers: [],
            metrics: TunnelMetrics(
                component: "gateway",
                dropReasons: GatewayEventLoop.dropReasons,
                queues: GatewayEventLoop.queues,
                factory: metrics
            ),
            configureInterface: { configured.append($0) },
            logger: logger
        )
        let interface = GatewayInterface(
            ipv4: IPv4Address(100, 64, 0, 9),
            ipv6: try #require(IPv6Address("fd00:2021:1111::9"))
        )
        let initialize = GatewayInit(
            interface: interface,
            config: GatewayConfig(ipv4MasqueradeEnabled: true, ipv6MasqueradeEnabled: true),
            relays: [],
            accountSlug: "local",
            authorizations: []
        )
        #expect(await bridge.deliver(.joined))
        #expect(await bridge.deliver(.message(.initialize(initialize))))
        let clock = ContinuousClock()
        let end = clock.now + .seconds(5)
        try loop.run(until: { !configured.isEmpty || clock.now > end })
        #expect(configured == [interface])
        // Closing publishes the metrics once more: the portal is joined, its queue drained.
        #expect(try metrics.expectGauge("gateway_portal_joined").lastValue == 1)
        #expect(try metrics.expectGauge("gateway_queue_depth", [("queue", "portal_inbound")]).lastValue == 0)
        try await group.shutdownGracefully()
    }
}
