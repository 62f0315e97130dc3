/// Counters of one tunnel, published by the shell (a `Stats` value, style rule 23).
public struct WireGuardTunnelStats: Hashable, Sendable {
    public var packetsSent: UInt64 = 0
    public var bytesSent: UInt64 = 0
    public var packetsReceived: UInt64 = 0
    public var bytesReceived: UInt64 = 0
    public var handshakesInitiated: UInt64 = 0
    public var handshakesCompleted: UInt64 = 0
    public var packetsDroppedFromQueue: UInt64 = 0

    public init() {}
}
