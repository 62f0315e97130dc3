import ICE

/// Which end of its connections a node is. Firezone 685acdac3a's `Node<T, …>` fixes it per node type
/// (`ClientNode`, `ServerNode`).
public enum NodeRole: Hashable, Sendable {
    /// The headless client: controls ICE (nominates), initiates the WireGuard handshake and the keep-alives, and
    /// buffers application packets while a connection is being set up.
    case client
    /// The gateway: the controlled ICE agent; packets for a connection that is not set up yet are dropped.
    case gateway

    var iceRole: IceRole {
        switch self {
        case .client: .controlling
        case .gateway: .controlled
        }
    }
}
