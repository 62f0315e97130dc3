import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import STUN
import WireGuard

/// One WireGuard peer on a simulated host: a ``Tunnel`` and the socket it sends from, either straight to the
/// peer's endpoint or through a TURN channel on our relay.
///
/// Like wireguard-go, a direct peer roams (WireGuard paper §2.1): its endpoint becomes the source of the latest
/// authenticated datagram, which is how a public peer answers one behind a NAT it cannot know in advance.
struct WireGuardNode: SimulatedNode {
    enum Path {
        case direct(peer: IPSocketAddress?)
        case relayed(TURNChannelClient)
    }

    var tunnel: WireGuardTunnel
    let local: IPSocketAddress
    var path: Path
    /// The UDP payloads of the inner packets that came out of the tunnel.
    private(set) var received: [String] = []
    /// Datagrams the tunnel refused (replays of duplicated datagrams, for instance), by error.
    private(set) var rejected: [String] = []
    /// Datagrams that had nowhere to go yet: no endpoint, or no channel.
    private(set) var unsent = 0
    private var outbox: [ByteBuffer] = []
    private var scratch = ByteBuffer()

    init(
        secret: Bytes32,
        peerPublicKey: PublicKey,
        peerIndex: UInt32,
        local: IPSocketAddress,
        path: Path,
        seed: inout SeededRandomNumberGenerator,
        clock: FluxCapacitor,
        logger: Logger
    ) {
        self.tunnel = WireGuardTunnel(
            local: LocalIdentity(secret: StaticSecret(secret)),
            remote: peerPublicKey,
            peerIndex: PeerIndex(peerIndex),
            seed: Bytes32(seed.bytes(32))!,
            logger: logger,
            now: clock.now,
            unixTime: clock.unixTime
        )
        self.local = local
        self.path = path
    }

    var relayClient: TURNChannelClient? {
        if case .relayed(let client) = self.path { client } else { nil }
    }

    var hasSession: Bool {
        self.tunnel.currentSessionIndex != nil
    }

    mutating func bindChannel(_ number: UInt16, to peer: IPSocketAddress, now: Instant) {
        guard case .relayed(var client) = self.path else {
            preconditionFailure("only a relayed peer binds channels")
        }
        client.bind(channel: number, to: peer, now: now)
        self.path = .relayed(client)
    }

    /// Sends a UDP packet with `text` as its payload through the tunnel.
    mutating func send(_ text: String, now: Instant) throws {
        let packet = try IPPacket.makeUDP(
            source: address("100.64.0.1"),
            sourcePort: 1,
            destination: address("100.64.0.2"),
            destinationPort: 2,
            payload: ByteBuffer(string: text)
        )
        var buffer = ByteBuffer()
        if self.tunnel.encapsulate(packet.buffer, into: &buffer, now: now) == .datagram {
            self.outbox.append(buffer)
        }
    }

    mutating func handleDatagram(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        var datagram = datagram
        if case .relayed(var client) = self.path {
            guard source == client.server else {
                return
            }
            switch datagram.getInteger(at: datagram.readerIndex, as: UInt8.self) {
            case .some(0...3):
                if let message = try? STUNMessage(decoding: datagram) {
                    client.handle(message, now: now)
                    self.path = .relayed(client)
                }
                return
            default:
                guard let channelData = try? ChannelData(decoding: datagram) else {
                    self.rejected.append("not channel data")
                    return
                }
                datagram = channelData.payload
            }
        }
        do {
            if try self.tunnel.decapsulate(&datagram, now: now) == .packet {
                self.received.append(String(buffer: try IPPacket(datagram).payload))
            }
            if case .direct = self.path {
                self.path = .direct(peer: source)
            }
        } catch {
            self.rejected.append("\(error)")
        }
    }

    mutating func pollTransmit(now: Instant) -> SimulatedTransmit? {
        if case .relayed(var client) = self.path, let message = client.pollTransmit() {
            self.path = .relayed(client)
            return SimulatedTransmit(source: self.local, destination: client.server, payload: message)
        }
        while true {
            if !self.outbox.isEmpty {
                self.scratch = self.outbox.removeFirst()
            } else if !self.tunnel.pollTransmit(into: &self.scratch, now: now) {
                return nil
            }
            switch self.path {
            case .direct(let peer?):
                return SimulatedTransmit(source: self.local, destination: peer, payload: self.scratch)
            case .relayed(let client):
                if let channel = client.channel {
                    var message = ByteBuffer()
                    ChannelData(channelNumber: channel.number, payload: self.scratch).write(into: &message)
                    return SimulatedTransmit(source: self.local, destination: client.server, payload: message)
                }
                self.unsent += 1
            case .direct(nil):
                self.unsent += 1
            }
        }
    }

    func pollTimeout() -> Instant? {
        [self.tunnel.pollTimeout()?.deadline, self.relayClient?.pollTimeout()].compactMap { $0 }.min()
    }

    mutating func handleTimeout(now: Instant, unixTime: Duration) {
        if let deadline = self.tunnel.pollTimeout()?.deadline, deadline <= now {
            self.tunnel.handleTimeout(now: now, unixTime: unixTime)
        }
        if case .relayed(var client) = self.path {
            client.handleTimeout(now: now)
            self.path = .relayed(client)
        }
    }
}
