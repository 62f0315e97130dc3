import IPPacket
import NIOCore

/// A datagram the node wants sent.
public struct NodeTransmit: Sendable, CustomStringConvertible {
    /// The local socket to send from: set for direct traffic to a peer (the ICE pair's base, which the shell must
    /// honour, or the peer's NAT drops it); nil for traffic to a relay, which may leave from any local socket of
    /// the destination's family.
    public var source: IPSocketAddress?
    public var destination: IPSocketAddress
    public var payload: ByteBuffer

    public init(source: IPSocketAddress?, destination: IPSocketAddress, payload: ByteBuffer) {
        self.source = source
        self.destination = destination
        self.payload = payload
    }

    public var description: String {
        "\(self.source.map { "\($0)" } ?? "any") -> \(self.destination): \(self.payload.readableBytes) bytes"
    }
}

/// Where ``Node/encapsulate(_:for:now:)`` wants the datagram it left in the caller's buffer sent; see
/// ``NodeTransmit/source``.
public struct NodeDestination: Hashable, Sendable {
    public var source: IPSocketAddress?
    public var destination: IPSocketAddress
}
