import FirezoneTesting
import FirezoneTime
import IPPacket
import NIOCore

/// A host on the public internet that is neither peer nor relay: it sends what a test hands it and drops what it
/// gets. Whatever a node sends it is a reflection the node must never make.
struct StrangerHost: SimulatedNode {
    static let address = IPAddress("198.18.0.66")!
    static let socket = IPSocketAddress(Self.address, port: 40404)

    private var outbox: [SimulatedTransmit] = []
    private(set) var received = 0

    mutating func send(
        _ payload: ByteBuffer,
        from source: IPSocketAddress = Self.socket,
        to destination: IPSocketAddress
    ) {
        self.outbox.append(SimulatedTransmit(source: source, destination: destination, payload: payload))
    }

    mutating func handleDatagram(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        self.received += 1
    }

    mutating func pollTransmit(now: Instant) -> SimulatedTransmit? {
        self.outbox.isEmpty ? nil : self.outbox.removeFirst()
    }

    func pollTimeout() -> Instant? {
        nil
    }

    mutating func handleTimeout(now: Instant, unixTime: Duration) {}
}
