extension WireGuardTunnel {
    /// The timers of WireGuard §6.2–§6.5 (wireguard-go `timers.go`), handled in declaration order.
    public enum TimerKind: Int, CaseIterable, Sendable {
        /// The oldest session reached ``WireGuardConstants/rejectAfterTime``: drop it and its keys.
        case expireSessions
        /// Our handshake went unanswered for ``WireGuardTunnel/handshakeTimeout``: give the connection up.
        case handshakeExpired
        /// An initiation went unanswered for ``WireGuardConstants/rekeyTimeout``: resend it.
        case retransmitHandshake
        /// We received data and sent nothing since: send a keepalive so the peer knows the session works.
        case sendKeepalive
        /// We sent data and received nothing since: the session may be dead, start a new handshake.
        case newHandshake
        /// The configured persistent keepalive interval passed without anything sent or received.
        case persistentKeepalive
        /// No new session for three times `rejectAfterTime`: erase every key.
        case zeroKeyMaterial

        var reason: StaticString {
            switch self {
            case .expireSessions: "expire sessions"
            case .handshakeExpired: "handshake expired"
            case .retransmitHandshake: "retransmit handshake"
            case .sendKeepalive: "send keepalive"
            case .newHandshake: "new handshake"
            case .persistentKeepalive: "persistent keepalive"
            case .zeroKeyMaterial: "zero key material"
            }
        }
    }
}
