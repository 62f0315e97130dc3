/// What a node tells the layer above it (connlib's client or gateway state).
public enum NodeEvent<ConnectionID: Hashable & Sendable>: Hashable, Sendable {
    /// Local candidates to signal to the peer through the portal, all of one tick's in one batch (highest
    /// priority first), in str0m's SDP format.
    case newIceCandidates(ConnectionID, [String])
    /// Local candidates the peer should forget (a relay's allocation went away, an address changed).
    case invalidatedIceCandidates(ConnectionID, [String])
    /// The connection carries data: ICE nominated a path and a WireGuard handshake completed.
    case connectionEstablished(ConnectionID, ConnectionPath)
    /// An established connection moved to another path (ICE re-nominated a better pair).
    case connectionPathChanged(ConnectionID, ConnectionPath)
    /// The connection is gone and will not recover; a new one needs new credentials from the portal.
    case connectionFailed(ConnectionID, ConnectionFailure)
    /// The connection was closed on purpose (``Node/closeConnection(_:goodbye:now:)`` or ``Node/reset(secret:now:)``).
    case connectionClosed(ConnectionID)
    /// No relay is usable any more: the layer above asks the portal for fresh relays.
    case noRelays
}

/// Why a connection failed.
public enum ConnectionFailure: Hashable, Sendable, CustomStringConvertible {
    /// The peer signalled no candidate within ``NodeConstants/remoteCandidateTimeout``.
    case noRemoteCandidates
    /// ICE found no working pair, or the nominated pair stopped answering its checks (``ConnectionTiming``).
    case iceDisconnected
    /// The WireGuard handshake went unanswered for ``NodeConstants/handshakeTimeout``.
    case handshakeTimedOut

    public var description: String {
        switch self {
        case .noRemoteCandidates: "no remote candidates"
        case .iceDisconnected: "ICE disconnected"
        case .handshakeTimedOut: "WireGuard handshake timed out"
        }
    }
}
