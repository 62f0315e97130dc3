/// Counters of everything the node dropped, by reason, and of what it relayed; the shell exports them as metrics.
public struct NodeStats: Hashable, Sendable {
    public var datagramsFromUnknownRelays: UInt64 = 0
    public var unexpectedRelayMessages: UInt64 = 0
    public var invalidChannelData: UInt64 = 0
    public var unroutedSTUN: UInt64 = 0
    public var wireGuardRejections: UInt64 = 0
    public var invalidCandidates: UInt64 = 0
    /// Packets for a connection that is still being set up, dropped by a gateway (the client buffers them).
    public var packetsDroppedWhileConnecting: UInt64 = 0
    /// Packets that overflowed a connection's set-up buffer.
    public var packetsDroppedFromBuffer: UInt64 = 0
    /// Packets for a relayed path whose channel binding does not exist yet (one is being made).
    public var packetsDroppedWithoutChannel: UInt64 = 0
    public var connectionsEstablished: UInt64 = 0
    public var connectionsFailed: UInt64 = 0

    public init() {}
}
