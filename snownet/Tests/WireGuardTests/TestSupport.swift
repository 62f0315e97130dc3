import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import Logging
import NIOCore
import WireGuard

func key32(hex text: String) -> Bytes32 {
    Bytes32(bytes(hex: text))!
}

/// A key derived from a small number, for tests that need distinct keys.
func testKey(_ seed: UInt8) -> Bytes32 {
    Bytes32((0..<32).map { seed &+ UInt8($0) &* 7 })!
}

/// An IPv4 packet of `totalLength` bytes whose header declares that length; the rest is a byte pattern.
func ipv4Packet(totalLength: Int, fill: UInt8 = 0xAB) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt8(0x45))
    buffer.writeInteger(UInt8(0))
    buffer.writeInteger(UInt16(totalLength))
    buffer.writeRepeatingByte(fill, count: totalLength - 4)
    return buffer
}

/// An IPv6 packet with `payloadLength` bytes after its 40-byte header.
func ipv6Packet(payloadLength: Int) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt32(0x6000_0000))
    buffer.writeInteger(UInt16(payloadLength))
    buffer.writeRepeatingByte(0x11, count: 34 + payloadLength)
    return buffer
}

let quietLogger: Logger = {
    var logger = Logger(label: "wireguard-tests", factory: { _ in SwiftLogNoOpLogHandler() })
    logger.logLevel = .critical
    return logger
}()

/// Two tunnels wired back to back in memory, with one virtual clock (boringtun's `create_two_tuns`, quinn's `Pair`).
struct Pair {
    static let unixStart: Duration = .seconds(1_750_000_000)

    var alice: WireGuardTunnel
    var bob: WireGuardTunnel
    var now = Instant.zero + .seconds(1)
    let aliceIdentity: LocalIdentity
    let bobIdentity: LocalIdentity

    init(
        alicePresharedKey: PresharedKey = .none,
        bobPresharedKey: PresharedKey = .none,
        alicePersistentKeepalive: Duration? = nil,
        aliceHandshakeTimeout: Duration = WireGuardConstants.rekeyAttemptTime
    ) {
        self.aliceIdentity = LocalIdentity(secret: StaticSecret(testKey(1)))
        self.bobIdentity = LocalIdentity(secret: StaticSecret(testKey(2)))
        self.alice = WireGuardTunnel(
            local: self.aliceIdentity,
            remote: self.bobIdentity.publicKey,
            presharedKey: alicePresharedKey,
            peerIndex: PeerIndex(0x0A0A0A),
            persistentKeepalive: alicePersistentKeepalive,
            handshakeTimeout: aliceHandshakeTimeout,
            seed: testKey(3),
            logger: quietLogger,
            now: self.now,
            unixTime: Self.unixStart
        )
        self.bob = WireGuardTunnel(
            local: self.bobIdentity,
            remote: self.aliceIdentity.publicKey,
            presharedKey: bobPresharedKey,
            peerIndex: PeerIndex(0x0B0B0B),
            seed: testKey(4),
            logger: quietLogger,
            now: self.now,
            unixTime: Self.unixStart
        )
    }

    var unixTime: Duration {
        Self.unixStart + (self.now - .zero)
    }

    mutating func advance(by duration: Duration) {
        self.now += duration
    }

    /// Everything `alice` (or `bob`) has to send, in order.
    static func drain(_ tunnel: inout WireGuardTunnel, now: Instant) -> [ByteBuffer] {
        var datagrams: [ByteBuffer] = []
        var buffer = ByteBuffer()
        while tunnel.pollTransmit(into: &buffer, now: now) {
            datagrams.append(buffer)
            buffer = ByteBuffer()
        }
        return datagrams
    }

    /// Results of delivering datagrams, with delivered packets.
    struct Delivery {
        var results: [Result<DecapsulateResult, WireGuardError>] = []
        var packets: [ByteBuffer] = []
    }

    static func deliver(_ datagrams: [ByteBuffer], to tunnel: inout WireGuardTunnel, now: Instant) -> Delivery {
        var delivery = Delivery()
        for var datagram in datagrams {
            do {
                let result = try tunnel.decapsulate(&datagram, now: now)
                delivery.results.append(.success(result))
                if result == .packet {
                    delivery.packets.append(datagram)
                }
            } catch {
                delivery.results.append(.failure(error))
            }
        }
        return delivery
    }

    /// Shuttles datagrams both ways until neither side has anything to send; returns the packets each received.
    @discardableResult
    mutating func exchange(rounds: Int = 8) -> (toAlice: [ByteBuffer], toBob: [ByteBuffer]) {
        var toAlice: [ByteBuffer] = []
        var toBob: [ByteBuffer] = []
        for _ in 0..<rounds {
            let fromAlice = Self.drain(&self.alice, now: self.now)
            let fromBob = Self.drain(&self.bob, now: self.now)
            if fromAlice.isEmpty && fromBob.isEmpty {
                break
            }
            toBob += Self.deliver(fromAlice, to: &self.bob, now: self.now).packets
            toAlice += Self.deliver(fromBob, to: &self.alice, now: self.now).packets
        }
        return (toAlice, toBob)
    }

    mutating func handleTimeouts() {
        if let deadline = self.alice.pollTimeout()?.deadline, deadline <= self.now {
            self.alice.handleTimeout(now: self.now, unixTime: self.unixTime)
        }
        if let deadline = self.bob.pollTimeout()?.deadline, deadline <= self.now {
            self.bob.handleTimeout(now: self.now, unixTime: self.unixTime)
        }
    }

    /// Advances the clock in steps, firing timers and exchanging datagrams at every step.
    mutating func run(for duration: Duration, step: Duration = .milliseconds(500)) {
        let end = self.now + duration
        while self.now < end {
            self.advance(by: step)
            self.handleTimeouts()
            self.exchange()
        }
    }

    static func events(_ tunnel: inout WireGuardTunnel) -> [WireGuardTunnelEvent] {
        var events: [WireGuardTunnelEvent] = []
        while let event = tunnel.pollEvent() {
            events.append(event)
        }
        return events
    }
}
