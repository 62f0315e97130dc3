import NIOCore
import STUN

extension RelayServer {
    /// What ``handleClientInput(_:from:now:)`` decided for a datagram from a client.
    public enum ClientInputResult: Equatable {
        /// Channel data: send `payload` from the allocation port to the peer.
        case forward(payload: ByteBuffer, from: AllocationPort, to: PeerSocket)
        /// Channel data whose peer is another allocation of this relay (relay-to-relay loopback, Firezone #10286):
        /// send `payload` as channel data on `channel` to `client` from the listening port, as it would arrive had it
        /// gone out as UDP to the relay's own address and come back in on that allocation's port.
        case loopBack(payload: ByteBuffer, client: ClientSocket, channel: ChannelNumber)
        /// A STUN message was handled; its response, if any, is a queued command.
        case handled
        case dropped(RelayStats.DropReason)
    }
}
