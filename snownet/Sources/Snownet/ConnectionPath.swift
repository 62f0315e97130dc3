/// Which path a connection's WireGuard datagrams take, as seen from one side (the socket kinds of Firezone's
/// rust/connlib/snownet/src/node/connection_state.rs).
public enum ConnectionPath: Hashable, Sendable, CustomStringConvertible {
    /// Straight to the peer, host or server-reflexive on both ends.
    case direct
    /// Through our relay to the peer's own address.
    case relayedOnOurSide
    /// Directly to the peer's relay.
    case relayedOnTheirSide
    /// Through our relay to the peer's relay (which may be the same relay, looped back in its kernel).
    case relayToRelay

    public var description: String {
        switch self {
        case .direct: "direct"
        case .relayedOnOurSide: "relayed (our relay)"
        case .relayedOnTheirSide: "relayed (their relay)"
        case .relayToRelay: "relay to relay"
        }
    }
}
