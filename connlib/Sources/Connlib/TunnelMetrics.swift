import CoreMetrics
import Snownet
import Synchronization

/// The tunnel's counters as swift-metrics instruments (Prometheus `/metrics` in the executables), published from
/// the data-plane thread once a second, so that the loop never touches a metric per packet. Queue depths are
/// sampled at the same pace, as gauges (Firezone #10242).
///
/// `component` prefixes every name (`gateway_…`, `client_…`). Dimensions are bounded: two directions, the four
/// connection paths and "connecting", the drop reasons and queues the caller names.
public final class TunnelMetrics: Sendable {
    /// Packets and bytes each way through the TUN device.
    public struct Traffic: Sendable, Hashable {
        /// Into the tunnel: read from the TUN device, sealed, sent to a peer.
        public var packetsIn: UInt64 = 0
        public var bytesIn: UInt64 = 0
        /// Out of the tunnel: received from a peer, opened, written to the TUN device.
        public var packetsOut: UInt64 = 0
        public var bytesOut: UInt64 = 0

        public init() {}
    }

    /// Everything published at once.
    public struct Snapshot: Sendable, Hashable {
        public var traffic = Traffic()
        /// Connections per ``TunnelMetrics/pathLabels`` entry: the four paths, then connections without one yet.
        public var connectionsByPath = [Int](repeating: 0, count: TunnelMetrics.pathLabels.count)
        /// Drops, one count per reason the metrics were made with, in that order.
        public var drops: [UInt64] = []
        public var portalJoined = false
        /// Depth of each queue the metrics were made with, in that order.
        public var queueDepths: [Int] = []

        public init() {}

        /// Counts a connection on `path` (nil: not established yet).
        public mutating func countConnection(_ path: ConnectionPath?) {
            self.connectionsByPath[TunnelMetrics.pathIndex(path)] += 1
        }
    }

    public static let pathLabels = ["direct", "relayed_our_side", "relayed_their_side", "relay_to_relay", "connecting"]

    static func pathIndex(_ path: ConnectionPath?) -> Int {
        switch path {
        case .direct: 0
        case .relayedOnOurSide: 1
        case .relayedOnTheirSide: 2
        case .relayToRelay: 3
        case nil: 4
        }
    }

    private let packetsIn: Counter
    private let bytesIn: Counter
    private let packetsOut: Counter
    private let bytesOut: Counter
    private let connections: [Gauge]
    private let drops: [Counter]
    private let portalJoined: Gauge
    private let queueDepths: [Gauge]
    private let previous: Mutex<Snapshot>

    public init(component: String, dropReasons: [String], queues: [String], factory: any MetricsFactory) {
        func counter(_ name: String, _ dimensions: [(String, String)]) -> Counter {
            Counter(label: "\(component)_\(name)", dimensions: dimensions, factory: factory)
        }
        self.packetsIn = counter("tunnel_packets_total", [("direction", "in")])
        self.bytesIn = counter("tunnel_bytes_total", [("direction", "in")])
        self.packetsOut = counter("tunnel_packets_total", [("direction", "out")])
        self.bytesOut = counter("tunnel_bytes_total", [("direction", "out")])
        self.connections = Self.pathLabels.map {
            Gauge(label: "\(component)_connections", dimensions: [("path", $0)], factory: factory)
        }
        self.drops = dropReasons.map { counter("dropped_packets_total", [("reason", $0)]) }
        self.portalJoined = Gauge(label: "\(component)_portal_joined", factory: factory)
        self.queueDepths = queues.map {
            Gauge(label: "\(component)_queue_depth", dimensions: [("queue", $0)], factory: factory)
        }
        var initial = Snapshot()
        initial.drops = Array(repeating: 0, count: dropReasons.count)
        initial.queueDepths = Array(repeating: 0, count: queues.count)
        self.previous = Mutex(initial)
        self.portalJoined.record(0)
        for gauge in self.connections + self.queueDepths {
            gauge.record(0)
        }
    }

    /// Publishes gauges as they are and counters as the change since the last call.
    public func publish(_ snapshot: Snapshot) {
        self.previous.withLock { previous in
            let traffic = snapshot.traffic
            self.packetsIn.increment(by: Int64(traffic.packetsIn &- previous.traffic.packetsIn))
            self.bytesIn.increment(by: Int64(traffic.bytesIn &- previous.traffic.bytesIn))
            self.packetsOut.increment(by: Int64(traffic.packetsOut &- previous.traffic.packetsOut))
            self.bytesOut.increment(by: Int64(traffic.bytesOut &- previous.traffic.bytesOut))
            for (gauge, count) in zip(self.connections, snapshot.connectionsByPath) {
                gauge.record(count)
            }
            for (index, counter) in self.drops.enumerated() where index < snapshot.drops.count {
                let before = index < previous.drops.count ? previous.drops[index] : 0
                counter.increment(by: Int64(snapshot.drops[index] &- before))
            }
            self.portalJoined.record(snapshot.portalJoined ? 1 : 0)
            for (gauge, depth) in zip(self.queueDepths, snapshot.queueDepths) {
                gauge.record(depth)
            }
            previous = snapshot
        }
    }
}
