/// What happened to a tunnel, for the shell's logs and for connection state above it.
public enum TunnelEvent: Hashable, Sendable {
    /// A handshake completed and a new session exists under this local index; `initiator` says which side we were.
    case handshakeCompleted(SessionIndex, initiator: Bool)
    /// Our handshake went unanswered for ``WireGuardConstants/rekeyAttemptTime``; queued packets were dropped.
    case handshakeTimedOut
    /// No session was established for ``WireGuardConstants/zeroKeyMaterialAfter``: all keys were erased
    /// (boringtun's `ConnectionExpired`).
    case connectionExpired
}

/// What ``Tunnel/encapsulate(_:now:)`` did with a packet.
public enum EncapsulateResult: Hashable, Sendable {
    /// The buffer now holds the transport datagram for the peer.
    case datagram
    /// No session can carry it yet: a copy waits for the handshake (see ``Tunnel/pollTransmit(into:)``).
    case queued
}

/// What ``Tunnel/decapsulate(_:now:)`` found in a datagram.
public enum DecapsulateResult: Hashable, Sendable {
    /// The buffer now holds exactly one IP packet (padding removed) for the TUN device.
    case packet
    /// An authenticated keepalive: nothing to deliver.
    case keepalive
    /// A handshake message or cookie reply was consumed; answers, if any, wait in ``Tunnel/pollTransmit(into:)``.
    case handshake
}

/// Counters of one tunnel, published by the shell (a `Stats` value, style rule 23).
public struct TunnelStats: Hashable, Sendable {
    public var packetsSent: UInt64 = 0
    public var bytesSent: UInt64 = 0
    public var packetsReceived: UInt64 = 0
    public var bytesReceived: UInt64 = 0
    public var handshakesInitiated: UInt64 = 0
    public var handshakesCompleted: UInt64 = 0
    public var packetsDroppedFromQueue: UInt64 = 0

    public init() {}
}
