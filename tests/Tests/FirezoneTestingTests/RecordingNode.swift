import FirezoneTesting
import FirezoneTime
import IPPacket
import NIOCore

/// A node that sends what a test tells it to and records what arrives; it can echo each datagram back to its
/// sender from the socket it arrived on.
struct RecordingNode: SimulatedNode {
    struct Arrival: Equatable {
        var source: IPSocketAddress
        var destination: IPSocketAddress
        var text: String
        var time: Instant
    }

    var echoes = false
    private(set) var arrivals: [Arrival] = []
    private var outbox: [SimulatedTransmit] = []
    private var sent = 0

    init(echoes: Bool = false) {
        self.echoes = echoes
    }

    mutating func send(_ text: String, from source: IPSocketAddress, to destination: IPSocketAddress) {
        self.outbox.append(
            SimulatedTransmit(source: source, destination: destination, payload: ByteBuffer(string: text))
        )
    }

    func handleTimeout(now: Instant, unixTime: Duration) {}

    func pollTimeout() -> Instant? {
        nil
    }

    mutating func handleDatagram(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        self.arrivals.append(
            Arrival(source: source, destination: destination, text: String(buffer: datagram), time: now)
        )
        if self.echoes {
            self.send("echo " + String(buffer: datagram), from: destination, to: source)
        }
    }

    mutating func pollTransmit(now: Instant) -> SimulatedTransmit? {
        guard self.sent < self.outbox.count else {
            self.outbox.removeAll()
            self.sent = 0
            return nil
        }
        self.sent += 1
        return self.outbox[self.sent - 1]
    }
}

func socket(_ text: String) -> IPSocketAddress {
    IPSocketAddress(text)!
}

func address(_ text: String) -> IPAddress {
    IPAddress(text)!
}
