import FirezoneTime
import IPPacket
import NIOCore

/// A sans-IO component on a simulated host, driven the way its real IO shell would drive it (str0m's
/// `poll_output`/`handle_input`, quinn's `poll_transmit`/`handle_timeout`).
///
/// The ``Simulation`` hands every datagram that reaches one of the host's sockets to
/// ``handleDatagram(_:from:to:now:)``, calls ``handleTimeout(now:unixTime:)`` once ``pollTimeout()`` is due, and
/// after each of these (and after a test changes the node) drains ``pollTransmit(now:)``. A node never reads a
/// clock or draws entropy of its own: its time is the simulation's clock and its randomness comes from seeds.
public protocol SimulatedNode {
    /// A datagram from `source` (as the network delivers it, after any NAT) arrived at the host's `destination`.
    mutating func handleDatagram(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    )

    /// The next datagram to send, or nil when there is none for now.
    mutating func pollTransmit(now: Instant) -> SimulatedTransmit?

    /// When ``handleTimeout(now:unixTime:)`` is due next; nil when no timer runs.
    func pollTimeout() -> Instant?

    /// Fires what is due at `now`; `unixTime` is the wall clock at `now`.
    mutating func handleTimeout(now: Instant, unixTime: Duration)
}

/// A datagram a node sends: from one of its host's sockets to any address.
public struct SimulatedTransmit: Sendable {
    public var source: IPSocketAddress
    public var destination: IPSocketAddress
    public var payload: ByteBuffer

    public init(source: IPSocketAddress, destination: IPSocketAddress, payload: ByteBuffer) {
        self.source = source
        self.destination = destination
        self.payload = payload
    }
}
