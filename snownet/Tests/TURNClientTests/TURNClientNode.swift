import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import STUN
import TURNClient

/// A host that talks to one relay through an ``Allocation``, as snownet's Node will: STUN and channel data from the
/// server go to the allocation, payloads for peers go out as channel data on the active socket. An allocation that
/// gave up is restarted, as the Node does when the portal hands it the relay again.
struct TURNClientNode: SimulatedNode {
    let local: IPSocketAddress
    var allocation: Allocation
    private(set) var events: [AllocationEvent] = []
    /// Payloads from peers, by sender, in arrival order.
    private(set) var received: [(peer: IPSocketAddress, payload: ByteBuffer)] = []
    /// Payloads not sent: no channel yet.
    private(set) var unsent = 0
    /// Datagrams the allocation did not take.
    private(set) var dropped = 0
    private(set) var restarts = 0
    /// Whether to restart an allocation that can be freed.
    var restartsWhenFreed = true
    private var outbox: [SimulatedTransmit] = []

    init(local: IPSocketAddress, server: RelaySocket, username: String, password: String, seed: UInt64, now: Instant) {
        self.local = local
        self.allocation = Allocation(
            server: server,
            username: username,
            password: password,
            realm: "firezone",
            software: "snownet; simulation",
            seed: seed,
            now: now,
            logger: ScriptedServer.silent
        )
        self.drain(now: now)
    }

    /// Sends `payload` to `peer` through the relay, or counts it as unsent (a bind starts).
    mutating func send(_ payload: ByteBuffer, to peer: IPSocketAddress, now: Instant) {
        if let channel = self.allocation.channelForSending(to: peer, now: now),
            let server = self.allocation.activeSocket
        {
            var message = ByteBuffer()
            ChannelData(channelNumber: channel.value, payload: payload).write(into: &message)
            self.outbox.append(SimulatedTransmit(source: self.local, destination: server, payload: message))
        } else {
            self.unsent += 1
        }
        self.drain(now: now)
    }

    mutating func bindChannel(to peer: IPSocketAddress, now: Instant) {
        self.allocation.bindChannel(to: peer, now: now)
        self.drain(now: now)
    }

    /// The portal's new credentials for the same relay.
    mutating func updateCredentials(username: String, password: String, now: Instant) {
        self.allocation.updateCredentials(username: username, password: password, realm: "firezone", now: now)
        self.drain(now: now)
    }

    func received(from peer: IPSocketAddress) -> Int {
        self.received.lazy.filter { $0.peer == peer }.count
    }

    mutating func handleDatagram(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        defer { self.drain(now: now) }
        guard self.allocation.isServer(source),
            let first = datagram.getInteger(at: datagram.readerIndex, as: UInt8.self)
        else {
            self.dropped += 1
            return
        }
        switch first {
        case 0...3:
            guard let message = try? STUNMessage(decoding: datagram),
                self.allocation.handleSTUN(message, from: source, local: destination, now: now)
            else {
                self.dropped += 1
                return
            }
        case 0x40...0x4F:
            guard let data = try? ChannelData(decoding: datagram),
                let peer = self.allocation.peer(forChannel: ChannelNumber(data.channelNumber), now: now)
            else {
                self.dropped += 1
                return
            }
            self.received.append((peer, data.payload))
        default:
            self.dropped += 1
        }
    }

    mutating func pollTransmit(now: Instant) -> SimulatedTransmit? {
        self.outbox.isEmpty ? nil : self.outbox.removeFirst()
    }

    func pollTimeout() -> Instant? {
        self.allocation.pollTimeout()
    }

    mutating func handleTimeout(now: Instant, unixTime: Duration) {
        self.allocation.handleTimeout(now: now)
        self.drain(now: now)
    }

    private mutating func drain(now: Instant) {
        while let event = self.allocation.pollEvent() {
            self.events.append(event)
        }
        if self.restartsWhenFreed && self.allocation.canBeFreed {
            self.restarts += 1
            self.allocation.refresh(now: now)
        }
        while let transmit = self.allocation.pollTransmit() {
            self.outbox.append(
                SimulatedTransmit(source: self.local, destination: transmit.destination, payload: transmit.payload)
            )
        }
    }
}
