import DequeModule
import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import ICE
import IPPacket
import Logging
import NIOCore
import Snownet
import WireGuard

/// A snownet ``Node`` on a simulated host, driven as connlib's event loop drives it: every datagram goes to
/// ``Node/decapsulate(_:from:local:now:)``, timers to ``Node/handleTimeout(now:unixTime:)``, and what it sends
/// leaves from the socket it names (or the host's socket of the destination's family for relay traffic).
struct PeerHost: SimulatedNode {
    typealias SnownetNode = Node<String, String>

    var node: SnownetNode
    var sockets: [IPSocketAddress]
    /// What the node sent to peers (not to relays' port 3478), by kind.
    private(set) var sentToPeers = SentCounts()
    /// Decrypted packets, by connection, in arrival order.
    private(set) var delivered: [(connection: String, packet: ByteBuffer)] = []
    /// Every event the node reported, in order.
    private(set) var events: [NodeEvent<String>] = []
    /// Candidate events (and reports of no relays) not yet handled by the test's portal.
    private(set) var signals: [NodeEvent<String>] = []
    /// Every refusal, in order.
    private(set) var errors: [NodeError] = []
    /// Where the node may send, and where it did not keep to that.
    var audit = AddressAudit()
    private var outbox: Deque<SimulatedTransmit> = []

    init(
        role: NodeRole,
        secret: Bytes32,
        seed: inout SeededRandomNumberGenerator,
        sockets: [IPSocketAddress],
        clock: FluxCapacitor,
        logger: Logger
    ) {
        self.node = SnownetNode(
            role: role,
            secret: StaticSecret(secret),
            seed: Bytes32(seed.bytes(32))!,
            logger: logger,
            now: clock.now,
            unixTime: clock.unixTime
        )
        self.sockets = sockets
    }

    static func publicKey(of secret: Bytes32) -> PublicKey {
        LocalIdentity(secret: StaticSecret(secret)).publicKey
    }

    mutating func handleDatagram(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        var datagram = datagram
        do throws(NodeError) {
            let connection = try self.node.decapsulate(&datagram, from: source, local: destination, now: now)
            self.audit.noteAccepted(from: source)
            if let connection {
                self.delivered.append((connection, datagram))
            }
        } catch {
            self.errors.append(error)
        }
        self.collectEvents()
    }

    mutating func pollTransmit(now: Instant) -> SimulatedTransmit? {
        let transmit: SimulatedTransmit
        if let queued = self.outbox.popFirst() {
            transmit = queued
        } else if let next = self.node.pollTransmit() {
            transmit = SimulatedTransmit(
                source: next.source ?? self.socket(for: next.destination),
                destination: next.destination,
                payload: next.payload
            )
        } else {
            return nil
        }
        self.sentToPeers.count(transmit.payload, to: transmit.destination)
        self.audit.check(transmit, now: now)
        return transmit
    }

    func pollTimeout() -> Instant? {
        self.node.pollTimeout()?.deadline
    }

    mutating func handleTimeout(now: Instant, unixTime: Duration) {
        self.node.handleTimeout(now: now, unixTime: unixTime)
        self.collectEvents()
    }

    /// Any change the test makes to the node directly, with its events collected afterwards.
    mutating func change<Value, Failure: Error>(
        _ body: (inout SnownetNode) throws(Failure) -> Value
    ) throws(Failure) -> Value {
        defer { self.collectEvents() }
        return try body(&self.node)
    }

    /// Encrypts `packet` for `connection` and queues the datagram, as the TUN path does.
    @discardableResult
    mutating func send(_ packet: IPPacket, to connection: String, now: Instant) throws(NodeError) -> Bool {
        var buffer = packet.buffer.withEncapsulationRoom()
        defer { self.collectEvents() }
        guard let destination = try self.node.encapsulate(&buffer, for: connection, now: now) else {
            return false
        }
        self.outbox.append(
            SimulatedTransmit(
                source: destination.source ?? self.socket(for: destination.destination),
                destination: destination.destination,
                payload: buffer
            )
        )
        return true
    }

    mutating func takeSignals() -> [NodeEvent<String>] {
        defer { self.signals.removeAll() }
        return self.signals
    }

    mutating func clearDelivered() {
        self.delivered.removeAll()
    }

    private mutating func collectEvents() {
        while let event = self.node.pollEvent() {
            self.events.append(event)
            switch event {
            case .newIceCandidates, .invalidatedIceCandidates, .noRelays: self.signals.append(event)
            default: break
            }
        }
    }

    private func socket(for destination: IPSocketAddress) -> IPSocketAddress {
        self.sockets.first { $0.address.version == destination.address.version } ?? self.sockets[0]
    }
}
