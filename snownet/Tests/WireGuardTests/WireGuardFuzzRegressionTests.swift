import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import Logging
import NIOCore
import Testing
import WireGuard

/// The exact inputs the `wireguard` fuzz target (tests/fuzz/Sources/WireGuardFuzzer) found, fed to the state the
/// target builds for every input; each is also kept in tests/fuzz/corpus/wireguard.
struct WireGuardFuzzRegressionTests {
    /// Corpus `cookie-reply`: the rate limiter's cookie reply to Alice's initiation in flight.
    static let cookieReply = bytes(
        hex: "0300000001a100001ccdc193a3a5c9772d95d25ccc81e6ddd6c9333b0aafb77f"
            + "ae4a834abbb0296d1d7c0d3ffa4ff1bf3a081fca029d08a78d4b13845388ff43"
    )
    /// Corpus `regression-cookie-reply-wrong-slot`: the same reply with the receiver index naming slot 0xab of
    /// Alice's peer instead of the slot her initiation came from. The index is outside the cookie's AEAD, so only
    /// comparing it with the index of our last handshake message can refuse it (wireguard-go looks it up exactly).
    static let cookieReplyNamingAnotherSlot = bytes(
        hex: "03000000aba100001ccdc193a3a5c9772d95d25ccc81e6ddd6c9333b0aafb77f"
            + "ae4a834abbb0296d1d7c0d3ffa4ff1bf3a081fca029d08a78d4b13845388ff43"
    )

    @Test func aCookieReplyNamingAnotherSessionSlotIsRefused() throws {
        let setup = FuzzTargetSetup()
        // The fuzz target's state is rebuilt exactly: its own cookie reply is the corpus's, and Alice takes it.
        #expect(setup.cookieReply == Self.cookieReply)
        var alice = setup.alice
        var valid = ByteBuffer(bytes: Self.cookieReply)
        #expect(try alice.decapsulate(&valid, now: setup.now) == .cookieReply)

        // The target's property: nothing authenticates unless it is one of the setup's valid messages.
        for receiver in [setup.alice, setup.bob] {
            var tunnel = receiver
            var input = ByteBuffer(bytes: Self.cookieReplyNamingAnotherSlot)
            #expect(throws: WireGuardError.unexpectedMessage) {
                try tunnel.decapsulate(&input, now: setup.now)
            }
        }
    }
}

/// The state the `wireguard` fuzz target gives every input, built the same way with the same constants: Alice and
/// Bob with an established session, Alice's second initiation in flight, and the rate limiter's cookie reply to it.
struct FuzzTargetSetup {
    static let unixStart: Duration = .seconds(1_750_000_000)

    var alice: WireGuardTunnel
    var bob: WireGuardTunnel
    let now: Instant
    let cookieReply: [UInt8]

    static func key(_ seed: UInt8) -> Bytes32 {
        Bytes32((0..<32).map { seed &+ UInt8($0) &* 13 })!
    }

    init() {
        let logger = Logger(label: "fuzz-regression", factory: { _ in SwiftLogNoOpLogHandler() })
        let aliceIdentity = LocalIdentity(secret: StaticSecret(Self.key(1)))
        let bobIdentity = LocalIdentity(secret: StaticSecret(Self.key(2)))
        var now = Instant.zero + .seconds(1)
        self.alice = WireGuardTunnel(
            local: aliceIdentity,
            remote: bobIdentity.publicKey,
            presharedKey: PresharedKey(Self.key(3)),
            peerIndex: PeerIndex(0x00A1),
            seed: Self.key(4),
            logger: logger,
            now: now,
            unixTime: Self.unixStart
        )
        self.bob = WireGuardTunnel(
            local: bobIdentity,
            remote: aliceIdentity.publicKey,
            presharedKey: PresharedKey(Self.key(3)),
            peerIndex: PeerIndex(0x00B2),
            seed: Self.key(5),
            logger: logger,
            now: now,
            unixTime: Self.unixStart
        )
        var limiter = HandshakeRateLimiter(identity: bobIdentity, limit: 0, seed: Self.key(6), now: now)

        // First handshake, completed, plus Alice's keepalive that confirms it for Bob; then data each way.
        self.alice.rollOverSession(now: now)
        Self.shuttle(from: &self.alice, to: &self.bob, now: now)
        Self.shuttle(from: &self.bob, to: &self.alice, now: now)
        Self.shuttle(from: &self.alice, to: &self.bob, now: now)
        var buffer = ByteBuffer()
        _ = self.alice.encapsulate(Self.ipv4Packet(length: 77), into: &buffer, now: now)
        _ = self.bob.encapsulate(Self.ipv6Packet(payloadLength: 40), into: &buffer, now: now)

        now += .seconds(21)
        self.now = now
        self.alice.rollOverSession(now: now)
        var initiation = ByteBuffer()
        let sent = self.alice.pollTransmit(into: &initiation, now: now)
        precondition(sent, "Alice's second initiation")
        var reply = ByteBuffer()
        _ = try? limiter.check(initiation, from: CookieSource(ipv4: 0x0A00_0001, port: 51820), reply: &reply, now: now)
        self.cookieReply = Array(reply.readableBytesView)
    }

    static func shuttle(from sender: inout WireGuardTunnel, to receiver: inout WireGuardTunnel, now: Instant) {
        var buffer = ByteBuffer()
        while sender.pollTransmit(into: &buffer, now: now) {
            _ = try? receiver.decapsulate(&buffer, now: now)
        }
    }

    static func ipv4Packet(length: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt16(0x4500))
        buffer.writeInteger(UInt16(length))
        buffer.writeRepeatingByte(0x5A, count: length - 4)
        return buffer
    }

    static func ipv6Packet(payloadLength: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(0x6000_0000))
        buffer.writeInteger(UInt16(payloadLength))
        buffer.writeRepeatingByte(0x66, count: 34 + payloadLength)
        return buffer
    }
}
