import IPPacket
import NIOCore

/// A STUN message the agent wants on the wire.
public struct IceTransmit: Sendable {
    /// The base of the local candidate: a host socket, or our relayed address, which the Node then wraps in TURN
    /// channel data to the relay.
    public var source: IPSocketAddress
    public var destination: IPSocketAddress
    public var payload: ByteBuffer

    public init(source: IPSocketAddress, destination: IPSocketAddress, payload: ByteBuffer) {
        self.source = source
        self.destination = destination
        self.payload = payload
    }
}
