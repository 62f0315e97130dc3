/// What ``WireGuardTunnel/decapsulate(_:now:)`` found in a datagram.
public enum DecapsulateResult: Hashable, Sendable {
    /// The buffer now holds exactly one IP packet (padding removed) for the TUN device.
    case packet
    /// An authenticated keepalive: nothing to deliver.
    case keepalive
    /// A handshake initiation or response was consumed; answers, if any, wait in
    /// ``WireGuardTunnel/pollTransmit(into:now:)``.
    case handshake
    /// A cookie reply was consumed. Unlike the other results it proves nothing about the sender: anyone who saw
    /// our handshake message's MAC1 can forge one, so it must not move the peer's endpoint (§5.4.7).
    case cookieReply
}
