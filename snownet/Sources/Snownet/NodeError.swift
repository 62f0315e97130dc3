import ICE
import STUN
import WireGuard

/// Why the node refused an input. Every refusal of a datagram is also counted in ``NodeStats``.
public enum NodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No connection has this ID.
    case unknownConnection
    /// A new connection needs a relay and the node has none (Firezone's `NoTurnServers`): ask the portal for relays.
    case noRelays
    /// Another connection already has this peer's public key.
    case duplicatePublicKey
    /// A remote candidate that does not parse.
    case invalidCandidate(CandidateParseError)
    /// STUN or channel data from port 3478 of a host that is none of our relays.
    case unknownRelay
    /// A relay's STUN message that answers nothing we sent.
    case unexpectedRelayMessage
    /// Channel data that does not decode, or names a channel our allocation does not have.
    case invalidChannelData
    /// An ICE STUN message for no connection (unknown username or transaction).
    case unroutedSTUN
    /// The WireGuard router refused the datagram.
    case wireGuard(WireGuardRouterError)

    public var description: String {
        switch self {
        case .unknownConnection: "unknown connection"
        case .noRelays: "no relays"
        case .duplicatePublicKey: "another connection has this public key"
        case .invalidCandidate(let error): "invalid candidate: \(error)"
        case .unknownRelay: "relay traffic from an unknown relay"
        case .unexpectedRelayMessage: "relay message that answers nothing"
        case .invalidChannelData: "invalid channel data"
        case .unroutedSTUN: "STUN message for no connection"
        case .wireGuard(let error): "WireGuard: \(error)"
        }
    }
}
