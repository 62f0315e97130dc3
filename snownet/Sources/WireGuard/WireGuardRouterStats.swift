/// Counters of a ``WireGuardRouter``'s drops and cookie replies (a `Stats` value, style rule 23).
public struct WireGuardRouterStats: Hashable, Sendable {
    public var invalidDatagrams: UInt64 = 0
    public var unknownPeers: UInt64 = 0
    public var packetsFromDisallowedSource: UInt64 = 0
    public var cookieRepliesSent: UInt64 = 0

    public init() {}
}
