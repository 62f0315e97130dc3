import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import RelayCore
import STUN

/// Our TURN server on a simulated host, driven as the relay's IO shell drives it: the listening port takes STUN
/// and channel data from clients, every other port is an allocation that takes datagrams from peers.
public struct RelayNode: SimulatedNode {
    public static let listeningPort: UInt16 = 3478
    public static let secret = "4e1d7c4c-7a1d-4c36-9b3b-4b1c0e5d2f10"

    public var server: RelayServer<SeededRandomNumberGenerator>
    public let addresses: [IPAddress]
    public private(set) var drops: [String] = []
    /// Whether the relay's host is on the network. Off, it is a host removed or a link cut: every datagram to it is
    /// lost and it sends nothing, while its timers run on.
    public var isReachable = true
    private var outbox: [SimulatedTransmit] = []
    private var sent = 0

    public init(addresses: [IPAddress], seed: UInt64, clock: FluxCapacitor, logger: Logger) {
        self.addresses = addresses
        self.server = RelayServer(
            configuration: .init(
                publicIPv4: addresses.lazy.compactMap { if case .v4(let v4) = $0 { v4 } else { nil } }.first,
                publicIPv6: addresses.lazy.compactMap { if case .v6(let v6) = $0 { v6 } else { nil } }.first,
                authSecret: Self.secret
            ),
            rng: SeededRandomNumberGenerator(seed: seed),
            now: clock.now,
            unixTime: clock.unixTime,
            logger: logger
        )
    }

    /// Credentials valid for an hour from `clock`'s wall-clock time. Each client needs its own `salt`: the relay
    /// keeps one allocation per username and replaces it when the username allocates from another socket.
    public static func credentials(clock: FluxCapacitor, salt: String) -> (username: String, password: String) {
        RelayCredentials.mint(expiry: UInt64(clock.unixTime.wholeSeconds) + 3600, salt: salt, secret: Self.secret)
    }

    private func socket(port: UInt16, family: IPVersion) -> IPSocketAddress {
        IPSocketAddress(self.addresses.first { $0.version == family }!, port: port)
    }

    public mutating func handleDatagram(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        guard self.isReachable else {
            self.drops.append("unreachable")
            return
        }
        if destination.port == Self.listeningPort {
            switch self.server.handleClientInput(datagram, from: ClientSocket(source), now: now) {
            case .forward(let payload, let port, let peer):
                let from = self.socket(port: port.value, family: peer.address.address.version)
                self.outbox.append(SimulatedTransmit(source: from, destination: peer.address, payload: payload))
            case .loopBack(let payload, let client, let channel):
                self.sendChannelData(payload, channel: channel, to: client)
            case .handled:
                break
            case .dropped(let reason):
                self.drops.append("\(reason)")
            }
        } else {
            let result = self.server.handlePeerInput(
                length: datagram.readableBytes,
                from: PeerSocket(source),
                to: AllocationPort(destination.port),
                now: now
            )
            switch result {
            case .forward(let client, let channel):
                self.sendChannelData(datagram, channel: channel, to: client)
            case .dropped(let reason):
                self.drops.append("\(reason)")
            }
        }
        self.drainCommands(now: now)
    }

    /// Sends `payload` as channel data on `channel` to `client`, from the listening port.
    private mutating func sendChannelData(_ payload: ByteBuffer, channel: ChannelNumber, to client: ClientSocket) {
        var message = ByteBuffer()
        ChannelData(channelNumber: channel.value, payload: payload).write(into: &message)
        let from = self.socket(port: Self.listeningPort, family: client.address.address.version)
        self.outbox.append(SimulatedTransmit(source: from, destination: client.address, payload: message))
    }

    /// Sends the core's messages; every allocation port opens at once (the simulated host has all ports free).
    private mutating func drainCommands(now: Instant) {
        while let command = self.server.pollCommand() {
            switch command {
            case .sendMessage(let message, let client):
                let from = self.socket(port: Self.listeningPort, family: client.address.address.version)
                self.outbox.append(SimulatedTransmit(source: from, destination: client.address, payload: message))
            case .createAllocation(let port, let family):
                self.server.handleAllocationPortOpened(port, family, now: now)
            case .freeAllocation, .createChannelBinding, .refreshChannelBinding, .deleteChannelBinding:
                break
            }
        }
    }

    public mutating func pollTransmit(now: Instant) -> SimulatedTransmit? {
        guard self.isReachable else {
            self.outbox.removeAll()
            self.sent = 0
            return nil
        }
        guard self.sent < self.outbox.count else {
            self.outbox.removeAll()
            self.sent = 0
            return nil
        }
        self.sent += 1
        return self.outbox[self.sent - 1]
    }

    public func pollTimeout() -> Instant? {
        self.server.pollTimeout()?.deadline
    }

    public mutating func handleTimeout(now: Instant, unixTime: Duration) {
        self.server.handleTimeout(now: now)
        self.drainCommands(now: now)
    }
}
