/// Counters of a gateway's dropped packets, one per ``GatewayDropReason``, for the shell to publish.
public struct GatewayStats: Hashable, Sendable {
    private var drops = [UInt64](repeating: 0, count: GatewayDropReason.allCases.count)

    public init() {}

    public subscript(reason: GatewayDropReason) -> UInt64 {
        self.drops[reason.rawValue]
    }

    mutating func countDrop(_ reason: GatewayDropReason) {
        self.drops[reason.rawValue] &+= 1
    }
}
