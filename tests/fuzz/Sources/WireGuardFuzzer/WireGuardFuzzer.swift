import FirezoneCrypto
import FirezoneTime
import Logging
import NIOCore
import WireGuard

#if canImport(Glibc)
import Glibc
#endif

// The `wireguard` fuzz target: every input is one datagram from the network.
//
// A fixed setup (keys, seeds and clock are constants) has Alice and Bob with an established session, Alice's second
// initiation in flight, and the valid messages of that state: the initiation, Bob's response to it, a cookie reply
// for it, data and a keepalive each way. Every input goes through the message parser, the node's initiator
// identification, an under-load rate limiter and both tunnels (fresh copies of the setup's). Properties, each a
// `fatalError` when broken:
// - the parser accepts exactly the lengths its type allows;
// - nothing authenticates unless it is one of the setup's valid messages (for handshake messages: identical in
//   every byte MAC1 covers; MAC2 is the rate limiter's business);
// - a delivered packet is a whole IPv4/IPv6 packet inside the input, and a keepalive is exactly 32 bytes.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    fuzzOne(input)
    return 0
}

struct Setup {
    // `nonisolated(unsafe)`: libFuzzer runs inputs on one thread, and inputs only use copies of it.
    nonisolated(unsafe) static let shared = Setup()
    static let unixStart: Duration = .seconds(1_750_000_000)

    var alice: WireGuardTunnel
    var bob: WireGuardTunnel
    let bobIdentity: LocalIdentity
    var limiter: HandshakeRateLimiter
    let now: Instant
    /// (name, bytes, how many leading bytes authentication covers: all for data, up to MAC2 for handshakes).
    var valid: [(name: String, bytes: [UInt8], covered: Int)] = []

    static func key(_ seed: UInt8) -> Bytes32 {
        Bytes32((0..<32).map { seed &+ UInt8($0) &* 13 })!
    }

    init() {
        let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        let aliceIdentity = LocalIdentity(secret: StaticSecret(Self.key(1)))
        self.bobIdentity = LocalIdentity(secret: StaticSecret(Self.key(2)))
        var now = Instant.zero + .seconds(1)
        self.alice = WireGuardTunnel(
            local: aliceIdentity,
            remote: self.bobIdentity.publicKey,
            presharedKey: PresharedKey(Self.key(3)),
            peerIndex: PeerIndex(0x00A1),
            seed: Self.key(4),
            logger: logger,
            now: now,
            unixTime: Self.unixStart
        )
        self.bob = WireGuardTunnel(
            local: self.bobIdentity,
            remote: aliceIdentity.publicKey,
            presharedKey: PresharedKey(Self.key(3)),
            peerIndex: PeerIndex(0x00B2),
            seed: Self.key(5),
            logger: logger,
            now: now,
            unixTime: Self.unixStart
        )
        self.limiter = HandshakeRateLimiter(identity: self.bobIdentity, limit: 0, seed: Self.key(6), now: now)

        // First handshake, completed, plus Alice's keepalive that confirms it for Bob.
        self.alice.rollOverSession(now: now)
        Self.shuttle(from: &self.alice, to: &self.bob, now: now)
        Self.shuttle(from: &self.bob, to: &self.alice, now: now)
        Self.shuttle(from: &self.alice, to: &self.bob, now: now)

        var buffer = ByteBuffer()
        _ = self.alice.encapsulate(Self.ipv4Packet(length: 77), into: &buffer, now: now)
        self.valid.append(("data-alice-to-bob", Array(buffer.readableBytesView), buffer.readableBytes))
        _ = self.bob.encapsulate(Self.ipv6Packet(payloadLength: 40), into: &buffer, now: now)
        self.valid.append(("data-bob-to-alice", Array(buffer.readableBytesView), buffer.readableBytes))

        // Alice's second initiation stays in flight; Bob's answer to it is computed on a copy of Bob.
        now += .seconds(21)
        self.now = now
        self.alice.rollOverSession(now: now)
        var initiation = ByteBuffer()
        precondition(self.alice.pollTransmit(into: &initiation, now: now))
        self.valid.append(("initiation", Array(initiation.readableBytesView), 132))
        var bobCopy = self.bob
        var consumed = initiation
        _ = try? bobCopy.decapsulate(&consumed, now: now)
        var response = ByteBuffer()
        precondition(bobCopy.pollTransmit(into: &response, now: now))
        self.valid.append(("response", Array(response.readableBytesView), 76))
        var limiterCopy = self.limiter
        var cookie = ByteBuffer()
        _ = try? limiterCopy.check(
            initiation,
            from: CookieSource(ipv4: 0x0A00_0001, port: 51820),
            reply: &cookie,
            now: now
        )
        self.valid.append(("cookie-reply", Array(cookie.readableBytesView), 64))
        // Bob's passive keepalive after Alice's data, on the first session.
        var keepalive = ByteBuffer()
        var bobKeepalive = self.bob
        var data = ByteBuffer(bytes: self.valid[0].bytes)
        _ = try? bobKeepalive.decapsulate(&data, now: now)
        bobKeepalive.handleTimeout(now: now + .seconds(10), unixTime: Self.unixStart)
        if bobKeepalive.pollTransmit(into: &keepalive, now: now + .seconds(10)) {
            self.valid.append(("keepalive-bob-to-alice", Array(keepalive.readableBytesView), keepalive.readableBytes))
        }
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

    /// Whether `input` is a valid message of the setup in every byte authentication covers.
    func isKnownValid(_ input: [UInt8]) -> Bool {
        self.valid.contains { message in
            input.count == message.bytes.count && input.prefix(message.covered) == message.bytes.prefix(message.covered)
        }
    }
}

func fuzzOne(_ input: [UInt8]) {
    let setup = Setup.shared
    let datagram = ByteBuffer(bytes: input)

    if let header = try? PacketHeader(parsing: datagram) {
        let lengthFits: Bool
        switch header.type {
        case .handshakeInitiation: lengthFits = input.count == WireGuardConstants.handshakeInitiationLength
        case .handshakeResponse: lengthFits = input.count == WireGuardConstants.handshakeResponseLength
        case .cookieReply: lengthFits = input.count == WireGuardConstants.cookieReplyLength
        case .transportData: lengthFits = input.count >= WireGuardConstants.transportOverhead
        }
        if !lengthFits || input[1] != 0 || input[2] != 0 || input[3] != 0 {
            fatalError("parser accepted a \(header.type) of \(input.count) bytes: \(input.prefix(4))")
        }
    }

    if (try? setup.bobIdentity.initiatorKey(of: datagram)) != nil, !setup.isKnownValid(input) {
        fatalError("identified the initiator of an initiation that is not the setup's")
    }

    var limiter = setup.limiter
    var reply = ByteBuffer()
    if let verdict = try? limiter.check(
        datagram,
        from: CookieSource(ipv4: 0x0A00_0001, port: 51820),
        reply: &reply,
        now: setup.now
    ),
        verdict == .sendCookieReply, reply.readableBytes != WireGuardConstants.cookieReplyLength
    {
        fatalError("cookie reply of \(reply.readableBytes) bytes")
    }

    for receiver in [setup.alice, setup.bob] {
        var tunnel = receiver
        var buffer = datagram
        guard let result = try? tunnel.decapsulate(&buffer, now: setup.now) else {
            continue
        }
        guard setup.isKnownValid(input) else {
            fatalError("\(result) from input that is none of the setup's valid messages")
        }
        switch result {
        case .packet:
            guard buffer.readableBytes >= 20, buffer.readableBytes <= input.count - WireGuardConstants.transportOverhead
            else {
                fatalError("delivered a packet of \(buffer.readableBytes) bytes from \(input.count)")
            }
        case .keepalive:
            if input.count != WireGuardConstants.transportOverhead {
                fatalError("a keepalive of \(input.count) bytes")
            }
        case .handshake, .cookieReply:
            break
        }
    }
}

/// Writes the setup's valid messages, one file each, into `directory` (the seed corpus).
func writeSeeds(to directory: String) -> Int32 {
    for message in Setup.shared.valid {
        let path = directory + "/" + message.name
        guard let file = fopen(path, "wb") else {
            return 1
        }
        _ = message.bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
    return 0
}
