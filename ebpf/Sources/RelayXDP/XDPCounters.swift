import CRelayXDP

/// The program's per-reason counters (`enum relay_xdp_reason` in `relay_xdp.h`), summed over CPUs.
public struct XDPCounters: Sendable, Equatable {
    public static let reasonCount = Int(RELAY_XDP_REASON_COUNT.rawValue)

    /// Indexed by the reason's raw value.
    public var packets = [UInt64](repeating: 0, count: Self.reasonCount)
    /// The application data for relayed reasons, the whole frame for the others (see `relay_xdp_counter`).
    public var bytes = [UInt64](repeating: 0, count: Self.reasonCount)

    public init() {}

    public func packets(_ reason: relay_xdp_reason) -> UInt64 {
        self.packets[Int(reason.rawValue)]
    }

    public func bytes(_ reason: relay_xdp_reason) -> UInt64 {
        self.bytes[Int(reason.rawValue)]
    }

    /// Channel data and datagrams the program relayed (its XDP_TX reasons).
    public var relayedPackets: UInt64 {
        Self.reasons.filter { $0.action == .tx }.reduce(0) { $0 &+ self.packets($1.reason) }
    }

    public var relayedBytes: UInt64 {
        Self.reasons.filter { $0.action == .tx }.reduce(0) { $0 &+ self.bytes($1.reason) }
    }

    /// Every reason with its metric label and action, in declaration order.
    public static let reasons: [(reason: relay_xdp_reason, name: String, action: XDPAction)] =
        (0..<UInt32(Self.reasonCount)).map { raw in
            let reason = relay_xdp_reason(rawValue: raw)
            return (reason, String(cString: relay_xdp_reason_name(reason)), XDPAction(rawValue: relay_xdp_reason_action(reason))!)
        }
}

/// The verdicts the program returns (`enum xdp_action`).
public enum XDPAction: UInt32, Sendable, CustomStringConvertible {
    case aborted = 0
    case drop = 1
    case pass = 2
    case tx = 3

    public var description: String {
        switch self {
        case .aborted: "aborted"
        case .drop: "drop"
        case .pass: "pass"
        case .tx: "tx"
        }
    }
}
