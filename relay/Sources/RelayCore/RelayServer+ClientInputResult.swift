import NIOCore

extension RelayServer {
    /// What ``handleClientInput(_:from:now:)`` decided for a datagram from a client.
    public enum ClientInputResult: Equatable {
        /// Channel data: send `payload` from the allocation port to the peer.
        case forward(payload: ByteBuffer, from: AllocationPort, to: PeerSocket)
        /// A STUN message was handled; its response, if any, is a queued command.
        case handled
        case dropped(RelayStats.DropReason)
    }
}
