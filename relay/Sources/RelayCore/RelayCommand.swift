import IPPacket
import NIOCore
import STUN

/// What the IO shell must do for the relay core, in order.
public enum RelayCommand: Sendable, Equatable {
    /// Send a STUN message from the listening port.
    case sendMessage(ByteBuffer, to: ClientSocket)
    /// Open the allocation port on one family.
    case createAllocation(AllocationPort, IPVersion)
    /// Close the allocation port on one family.
    case freeAllocation(AllocationPort, IPVersion)
    /// A channel now relays; an offloading datapath (XDP) mirrors it.
    case createChannelBinding(client: ClientSocket, channel: ChannelNumber, peer: PeerSocket, port: AllocationPort)
    /// A channel no longer relays.
    case deleteChannelBinding(client: ClientSocket, channel: ChannelNumber, peer: PeerSocket, port: AllocationPort)
}
