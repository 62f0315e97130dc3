/// Why a ``WireGuardRouter`` refused a datagram or a peer.
public enum WireGuardRouterError: Error, Hashable, Sendable {
    /// The datagram was rejected by the rate limiter or the tunnel.
    case invalid(WireGuardError)
    /// No peer has the receiver index or initiator key the datagram names.
    case unknownPeer
    /// A decrypted packet whose inner source address is not one of the peer's allowed IPs (cryptokey routing, §2).
    case disallowedSource
    /// A peer with this ID or public key exists already.
    case duplicatePeer
    /// All 2^24 − 1 peer indices were handed out.
    case peerIndicesExhausted
}
