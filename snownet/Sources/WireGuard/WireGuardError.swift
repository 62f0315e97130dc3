/// Why a datagram from a peer was not accepted. Peer input never traps: every rejection is one of these.
public enum WireGuardError: Error, Hashable, Sendable {
    /// Not a WireGuard message: unknown type, non-zero reserved bytes, or the wrong length for its type.
    case invalidMessage
    /// MAC1 does not match our public key: not meant for us, or corrupted.
    case invalidMAC1
    /// A handshake field or transport packet did not authenticate.
    case decryptionFailed
    /// A Diffie-Hellman result was all zeros (a low-order public key).
    case lowOrderPoint
    /// A handshake initiation from a static key other than this tunnel's peer.
    case wrongPeer
    /// A handshake initiation whose timestamp is not newer than the last one accepted from this peer.
    case replayedTimestamp
    /// Handshake initiations from this peer arrive faster than ``WireGuardConstants/handshakeInitiationRate``.
    case handshakeFlood
    /// A response or cookie reply for no handshake of ours in flight.
    case unexpectedMessage
    /// A transport packet for a session index we do not have (never had, replaced, expired after
    /// ``WireGuardConstants/rejectAfterTime``, or erased).
    case unknownSession
    /// A counter seen before, too far behind the window, or at the end of the counter space.
    case replayedCounter
    /// A decrypted payload that is not a whole IPv4 or IPv6 packet.
    case invalidInnerPacket
}
