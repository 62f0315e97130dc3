import CRelayXDP
import MetricsTestKit
import Relay
import RelayCore
import RelayXDP
import Testing

/// The publisher turns the core's cumulative counters into metric increments: each call adds the change since the
/// previous one, gauges take the current value, and response counters appear per method and outcome.
struct RelayStatsPublisherTests {
    static let allocateSuccess = RelayStats.ResponseKey(method: 0x003, errorCode: nil)
    static let allocateUnauthorized = RelayStats.ResponseKey(method: 0x003, errorCode: 401)
    static let unknownMethod = RelayStats.ResponseKey(method: 0x0FF, errorCode: 400)

    @Test
    func countersGrowByTheChangeSinceTheLastCallAndGaugesTakeTheValue() throws {
        let metrics = TestMetrics()
        let publisher = RelayStatsPublisher(factory: metrics)
        var stats = RelayStats()
        stats.allocations = 2
        stats.channels = 5
        stats.relayedPackets = 10
        stats.relayedBytes = 1_000
        stats.drops[RelayStats.DropReason.unboundChannel.rawValue] = 3
        publisher.publish(stats)

        stats.allocations = 1
        stats.channels = 7
        stats.relayedPackets = 25
        stats.relayedBytes = 2_500
        stats.drops[RelayStats.DropReason.unboundChannel.rawValue] = 4
        stats.drops[RelayStats.DropReason.notTURN.rawValue] = 6
        publisher.publish(stats)

        let userspace = [("datapath", "userspace")]
        #expect(try metrics.expectCounter("relay_relayed_packets_total", userspace).values == [10, 15])
        #expect(try metrics.expectCounter("relay_relayed_bytes_total", userspace).values == [1_000, 1_500])
        #expect(try metrics.expectGauge("relay_allocations").values == [2, 1])
        #expect(try metrics.expectGauge("relay_channels").values == [5, 7])
        let unbound = try metrics.expectCounter("relay_dropped_packets_total", [("reason", "unbound_channel")])
        #expect(unbound.totalValue == 4)
        #expect(try metrics.expectCounter("relay_dropped_packets_total", [("reason", "not_turn")]).totalValue == 6)
        // Every drop reason has its counter from the start, so a dashboard sees zeros rather than gaps.
        for reason in RelayStats.DropReason.allCases {
            _ = try metrics.expectCounter("relay_dropped_packets_total", [("reason", reason.description)])
        }
        // The XDP datapath's counters stay untouched by userspace stats.
        #expect(try metrics.expectCounter("relay_relayed_packets_total", [("datapath", "xdp")]).totalValue == 0)
    }

    @Test
    func responsesAreCountedPerMethodAndOutcomeOnlyWhenTheyChange() throws {
        let metrics = TestMetrics()
        let publisher = RelayStatsPublisher(factory: metrics)
        var stats = RelayStats()
        stats.responses = [Self.allocateSuccess: 4, Self.allocateUnauthorized: 4]
        publisher.publish(stats)
        stats.responses[Self.allocateSuccess] = 9
        stats.responses[Self.unknownMethod] = 1
        publisher.publish(stats)

        let success = [("method", "allocate"), ("class", "success"), ("code", "")]
        let unauthorized = [("method", "allocate"), ("class", "error"), ("code", "401")]
        #expect(try metrics.expectCounter("relay_responses_total", success).values == [4, 5])
        // Unchanged since the first call: no zero increment.
        #expect(try metrics.expectCounter("relay_responses_total", unauthorized).values == [4])
        let other = [("method", "other"), ("class", "error"), ("code", "400")]
        #expect(try metrics.expectCounter("relay_responses_total", other).values == [1])
        #expect(metrics.counters(label: "relay_responses_total").count == 3)
    }

    @Test
    func xdpCountersArePublishedPerReasonAsTheChangeSinceTheLastCall() throws {
        let metrics = TestMetrics()
        let publisher = RelayStatsPublisher(factory: metrics)
        let relayed = Int(RELAY_XDP_CHANNEL_TO_UDP.rawValue)
        let dropped = Int(RELAY_XDP_DROP_BAD_CHANNEL_DATA_LENGTH.rawValue)
        var counters = XDPCounters()
        counters.packets[relayed] = 100
        counters.bytes[relayed] = 10_000
        counters.packets[dropped] = 2
        publisher.publish(counters, mapMemoryBytes: 4_096, failedInserts: 1)
        counters.packets[relayed] = 130
        counters.bytes[relayed] = 13_000
        publisher.publish(counters, mapMemoryBytes: 8_192, failedInserts: 3)

        let xdp = [("datapath", "xdp")]
        #expect(try metrics.expectCounter("relay_relayed_packets_total", xdp).values == [100, 30])
        #expect(try metrics.expectCounter("relay_relayed_bytes_total", xdp).values == [10_000, 3_000])
        let relayedName = XDPCounters.reasons[relayed].name
        let droppedName = XDPCounters.reasons[dropped].name
        #expect(
            try metrics.expectCounter("relay_xdp_packets_total", [("action", "tx"), ("reason", relayedName)]).values
                == [100, 30]
        )
        #expect(
            try metrics.expectCounter("relay_xdp_packets_total", [("action", "drop"), ("reason", droppedName)])
                .totalValue == 2
        )
        #expect(try metrics.expectGauge("relay_xdp_map_memory_bytes").values == [4_096, 8_192])
        #expect(try metrics.expectCounter("relay_xdp_map_insert_failed_total").values == [1, 2])
        #expect(metrics.counters(label: "relay_xdp_packets_total").count == XDPCounters.reasonCount)
        // The userspace datapath's counters stay untouched by XDP counters.
        #expect(try metrics.expectCounter("relay_relayed_packets_total", [("datapath", "userspace")]).totalValue == 0)
    }
}
