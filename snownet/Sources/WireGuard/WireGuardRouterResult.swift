/// Where a datagram went; see ``WireGuardRouter/decapsulate(_:from:cookieSource:reply:now:)``.
public enum WireGuardRouterResult<PeerID: Hashable & Sendable>: Hashable, Sendable {
    /// The buffer holds an IP packet from this peer, from one of its allowed IPs, for the TUN device.
    case packet(PeerID)
    /// An authenticated keepalive from this peer.
    case keepalive(PeerID)
    /// A handshake message or cookie reply for this peer's tunnel: drain its ``WireGuardRouter/pollTransmit(for:into:now:)``.
    case handshake(PeerID)
    /// The node is under load: send the cookie reply in the reply buffer back to the source, nothing else.
    case sendCookieReply
}
