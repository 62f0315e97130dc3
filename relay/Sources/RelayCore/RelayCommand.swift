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
    /// A bound channel was refreshed. An offloading datapath mirrors it again: its copy may have been lost (an insert
    /// the kernel refused, a map entry deleted behind the relay's back), and the refresh is the binding's next
    /// chance to be offloaded.
    case refreshChannelBinding(client: ClientSocket, channel: ChannelNumber, peer: PeerSocket, port: AllocationPort)
    /// A channel stops relaying.
    case deleteChannelBinding(client: ClientSocket, channel: ChannelNumber, peer: PeerSocket, port: AllocationPort)
}
