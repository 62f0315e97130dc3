import STUN

extension RelayServer {
    /// What ``handlePeerInput(length:from:to:now:)`` decided for a datagram from a peer.
    public enum PeerInputResult: Equatable {
        /// Prefix the datagram with channel data for `channel` and send it to `client` from the listening port.
        case forward(client: ClientSocket, channel: ChannelNumber)
        case dropped(RelayStats.DropReason)
    }
}
