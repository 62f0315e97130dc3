/// What ``WireGuardTunnel/encapsulate(_:now:)`` did with a packet.
public enum EncapsulateResult: Hashable, Sendable {
    /// The buffer now holds the transport datagram for the peer.
    case datagram
    /// No session can carry it yet: a copy waits for the handshake (see ``WireGuardTunnel/pollTransmit(into:now:)``).
    case queued
}
