/// What happened to a tunnel, for the shell's logs and for connection state above it.
public enum WireGuardTunnelEvent: Hashable, Sendable {
    /// A handshake completed and a new session exists under this local index; `initiator` says which side we were.
    case handshakeCompleted(SessionIndex, initiator: Bool)
    /// The tunnel gave up: its handshake went unanswered for ``WireGuardTunnel/handshakeTimeout``, or no session
    /// was established for ``WireGuardConstants/zeroKeyMaterialAfter``. Every session and queued packet is gone
    /// (boringtun's `ConnectionExpired`, on which Firezone closes the ICE connection).
    case connectionExpired
}
