import CoreMetrics
import RelayCore
import RelayXDP
import Synchronization

/// Turns the core's counters into swift-metrics instruments, from the IO thread, about once a second.
///
/// The core counts; this publishes the change since the last call, so the IO loop never touches metrics per
/// packet. Dimensions are bounded: methods, error codes, drop reasons, datapaths.
public final class RelayStatsPublisher: Sendable {
    private struct State {
        var previous = RelayStats()
        var previousXDP = XDPCounters()
        var previousFailedInserts = 0
        var responseCounters: [RelayStats.ResponseKey: Counter] = [:]
    }

    private let factory: any MetricsFactory
    private let allocations: Gauge
    private let channels: Gauge
    private let relayedPackets: Counter
    private let relayedBytes: Counter
    private let drops: [Counter]
    private let xdpRelayedPackets: Counter
    private let xdpRelayedBytes: Counter
    /// One per XDP reason, labelled with its action and reason.
    private let xdpPackets: [Counter]
    private let xdpMapMemory: Gauge
    private let xdpMapInsertFailed: Counter
    private let state = Mutex(State())

    public init(factory: any MetricsFactory) {
        self.factory = factory
        self.allocations = Gauge(label: "relay_allocations", factory: factory)
        self.channels = Gauge(label: "relay_channels", factory: factory)
        self.relayedPackets = Counter(
            label: "relay_relayed_packets_total",
            dimensions: [("datapath", "userspace")],
            factory: factory
        )
        self.relayedBytes = Counter(
            label: "relay_relayed_bytes_total",
            dimensions: [("datapath", "userspace")],
            factory: factory
        )
        self.drops = RelayStats.DropReason.allCases.map {
            Counter(label: "relay_dropped_packets_total", dimensions: [("reason", $0.description)], factory: factory)
        }
        self.xdpRelayedPackets = Counter(
            label: "relay_relayed_packets_total",
            dimensions: [("datapath", "xdp")],
            factory: factory
        )
        self.xdpRelayedBytes = Counter(
            label: "relay_relayed_bytes_total",
            dimensions: [("datapath", "xdp")],
            factory: factory
        )
        self.xdpPackets = XDPCounters.reasons.map {
            Counter(
                label: "relay_xdp_packets_total",
                dimensions: [("action", $0.action.description), ("reason", $0.name)],
                factory: factory
            )
        }
        self.xdpMapMemory = Gauge(label: "relay_xdp_map_memory_bytes", factory: factory)
        self.xdpMapInsertFailed = Counter(label: "relay_xdp_map_insert_failed_total", factory: factory)
    }

    /// Publishes the XDP program's counters (summed over CPUs) and the offload's refused inserts
    /// (``XDPOffload/failedInserts``) as the change since the last call.
    public func publish(_ counters: XDPCounters, mapMemoryBytes: Int, failedInserts: Int = 0) {
        self.state.withLock { state in
            self.xdpRelayedPackets.increment(by: Int64(counters.relayedPackets &- state.previousXDP.relayedPackets))
            self.xdpRelayedBytes.increment(by: Int64(counters.relayedBytes &- state.previousXDP.relayedBytes))
            for index in 0..<XDPCounters.reasonCount {
                self.xdpPackets[index].increment(by: Int64(counters.packets[index] &- state.previousXDP.packets[index]))
            }
            self.xdpMapMemory.record(mapMemoryBytes)
            self.xdpMapInsertFailed.increment(by: Int64(failedInserts - state.previousFailedInserts))
            state.previousXDP = counters
            state.previousFailedInserts = failedInserts
        }
    }

    public func publish(_ stats: RelayStats) {
        self.state.withLock { state in
            self.allocations.record(stats.allocations)
            self.channels.record(stats.channels)
            self.relayedPackets.increment(by: Int64(stats.relayedPackets &- state.previous.relayedPackets))
            self.relayedBytes.increment(by: Int64(stats.relayedBytes &- state.previous.relayedBytes))
            for reason in RelayStats.DropReason.allCases {
                self.drops[reason.rawValue].increment(by: Int64(stats.drops(reason) &- state.previous.drops(reason)))
            }
            for (key, count) in stats.sortedResponses {
                let delta = count &- (state.previous.responses[key] ?? 0)
                guard delta > 0 else { continue }
                let counter = state.responseCounters[key] ?? self.makeResponseCounter(key)
                state.responseCounters[key] = counter
                counter.increment(by: Int64(delta))
            }
            state.previous = stats
        }
    }

    private func makeResponseCounter(_ key: RelayStats.ResponseKey) -> Counter {
        Counter(
            label: "relay_responses_total",
            dimensions: [
                ("method", Self.methodName(key.method)),
                ("class", key.errorCode == nil ? "success" : "error"),
                ("code", key.errorCode.map(String.init) ?? ""),
            ],
            factory: self.factory
        )
    }

    private static func methodName(_ method: UInt16) -> String {
        switch method {
        case 0x001: "binding"
        case 0x003: "allocate"
        case 0x004: "refresh"
        case 0x008: "createpermission"
        case 0x009: "channelbind"
        default: "other"
        }
    }
}
