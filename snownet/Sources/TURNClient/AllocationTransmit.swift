import IPPacket
import NIOCore

/// A datagram for the TURN server. It may leave from any local socket of the destination's family: the server
/// tells the allocation which one it saw (XOR-MAPPED-ADDRESS), and an allocation lives on the 5-tuple it was
/// made from, so the caller sends every datagram of one family from the same socket.
public struct AllocationTransmit: Sendable {
    public var destination: IPSocketAddress
    public var payload: ByteBuffer

    public init(destination: IPSocketAddress, payload: ByteBuffer) {
        self.destination = destination
        self.payload = payload
    }
}
