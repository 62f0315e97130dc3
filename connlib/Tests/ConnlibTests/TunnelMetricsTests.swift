import Connlib
import MetricsTestKit
import Testing

/// The loop publishes cumulative counts once a second; counters grow by the change, gauges take the value.
struct TunnelMetricsTests {
    @Test func countersGrowByTheChangeSinceTheLastCallAndGaugesTakeTheValue() throws {
        let metrics = TestMetrics()
        let tunnel = TunnelMetrics(
            component: "gateway",
            dropReasons: ["filtered", "not_authorized"],
            queues: ["portal_inbound"],
            factory: metrics
        )
        var snapshot = TunnelMetrics.Snapshot()
        snapshot.traffic.packetsIn = 10
        snapshot.traffic.bytesIn = 1_000
        snapshot.traffic.packetsOut = 4
        snapshot.traffic.bytesOut = 400
        snapshot.drops = [3, 0]
        snapshot.queueDepths = [5]
        snapshot.portalJoined = true
        snapshot.countConnection(.direct)
        snapshot.countConnection(.direct)
        snapshot.countConnection(nil)
        tunnel.publish(snapshot)

        snapshot.traffic.packetsIn = 25
        snapshot.traffic.bytesIn = 2_500
        snapshot.drops = [4, 2]
        snapshot.queueDepths = [0]
        snapshot.portalJoined = false
        snapshot.connectionsByPath = Array(repeating: 0, count: TunnelMetrics.pathLabels.count)
        snapshot.countConnection(.relayToRelay)
        tunnel.publish(snapshot)

        #expect(try metrics.expectCounter("gateway_tunnel_packets_total", [("direction", "in")]).values == [10, 15])
        #expect(
            try metrics.expectCounter("gateway_tunnel_bytes_total", [("direction", "in")]).values == [1_000, 1_500]
        )
        #expect(try metrics.expectCounter("gateway_tunnel_packets_total", [("direction", "out")]).values == [4, 0])
        #expect(try metrics.expectCounter("gateway_dropped_packets_total", [("reason", "filtered")]).values == [3, 1])
        #expect(
            try metrics.expectCounter("gateway_dropped_packets_total", [("reason", "not_authorized")]).values == [0, 2]
        )
        #expect(try metrics.expectGauge("gateway_queue_depth", [("queue", "portal_inbound")]).values == [0, 5, 0])
        #expect(try metrics.expectGauge("gateway_portal_joined").values == [0, 1, 0])
        #expect(try metrics.expectGauge("gateway_connections", [("path", "direct")]).values == [0, 2, 0])
        #expect(try metrics.expectGauge("gateway_connections", [("path", "connecting")]).values == [0, 1, 0])
        #expect(try metrics.expectGauge("gateway_connections", [("path", "relay_to_relay")]).values == [0, 0, 1])
    }
}
