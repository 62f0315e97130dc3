import FirezoneTesting
import FirezoneTime
import NIOCore
import Testing
import WireGuard

/// Every malformed message is rejected with an error, never a crash, and never changes what works.
struct MalformedMessageTests {
    /// Valid messages of every type, from a real exchange.
    static func sampleMessages() -> (pair: Pair, messages: [ByteBuffer]) {
        var pair = Pair()
        pair.alice.rollOverSession(now: pair.now)
        let initiation = Pair.drain(&pair.alice, now: pair.now)
        _ = Pair.deliver(initiation, to: &pair.bob, now: pair.now)
        let response = Pair.drain(&pair.bob, now: pair.now)
        _ = Pair.deliver(response, to: &pair.alice, now: pair.now)
        let keepalive = Pair.drain(&pair.alice, now: pair.now)
        _ = Pair.deliver(keepalive, to: &pair.bob, now: pair.now)
        var data = ByteBuffer()
        _ = pair.alice.encapsulate(ipv4Packet(totalLength: 40), into: &data, now: pair.now)
        var limiter = HandshakeRateLimiter(identity: pair.bobIdentity, limit: 0, seed: testKey(20), now: pair.now)
        var cookie = ByteBuffer()
        _ = try? limiter.check(initiation[0], from: CookieSource(ipv4: 1, port: 2), reply: &cookie, now: pair.now)
        return (pair, initiation + response + [data, cookie])
    }

    @Test(arguments: [0, 1, 3, 4, 15, 16, 31, 32, 63, 64, 65, 91, 92, 93, 147, 148, 149, 1500])
    func lengthMustFitTheType(length: Int) {
        let exact: [UInt8: Int] = [1: 148, 2: 92, 3: 64]
        for type in UInt8(1)...4 {
            var buffer = ByteBuffer()
            buffer.writeRepeatingByte(0, count: length)
            if length > 0 {
                buffer.setInteger(type, at: 0)
            }
            let parsed = (try? PacketHeader(parsing: buffer)) != nil
            let expected = length >= 4 && (type == 4 ? length >= 32 : length == exact[type])
            #expect(parsed == expected, "type \(type), \(length) bytes")
        }
    }

    @Test func unknownTypesAndReservedBitsAreInvalid() {
        for first: UInt8 in [0, 5, 0xFF] {
            var buffer = ByteBuffer()
            buffer.writeInteger(first)
            buffer.writeRepeatingByte(0, count: 147)
            #expect(throws: WireGuardError.invalidMessage) { try PacketHeader(parsing: buffer) }
        }
        var (_, messages) = Self.sampleMessages()
        for index in messages.indices {
            messages[index].setInteger(UInt8(1), at: 2)
            #expect(throws: WireGuardError.invalidMessage) { try PacketHeader(parsing: messages[index]) }
        }
    }

    /// Every truncation, every single-bit flip and every extension by one byte of every message type is rejected
    /// by the receiving tunnel, which keeps working.
    @Test func mutationsOfValidMessagesAreRejected() throws {
        var (pair, messages) = Self.sampleMessages()
        var rejected = 0
        for message in messages {
            var variants: [ByteBuffer] = []
            for length in 0..<message.readableBytes {
                variants.append(message.getSlice(at: 0, length: length)!)
            }
            for bit in 0..<(message.readableBytes * 8) {
                var flipped = message
                let byte = flipped.getInteger(at: bit / 8, as: UInt8.self)!
                flipped.setInteger(byte ^ (1 << (bit % 8)), at: bit / 8)
                variants.append(flipped)
            }
            var longer = message
            longer.writeInteger(UInt8(0))
            variants.append(longer)
            for var variant in variants {
                var target = pair.bob
                if (try? target.decapsulate(&variant, now: pair.now)) == nil {
                    rejected += 1
                }
                var other = pair.alice
                _ = try? other.decapsulate(&variant, now: pair.now)
            }
        }
        #expect(rejected > 0)
        // Still working afterwards.
        var buffer = ByteBuffer()
        let encapsulated = pair.alice.encapsulate(ipv4Packet(totalLength: 40), into: &buffer, now: pair.now)
        #expect(encapsulated == .datagram)
        let decapsulated = try pair.bob.decapsulate(&buffer, now: pair.now)
        #expect(decapsulated == .packet)
    }

    /// Mutations that keep the type and length must fail authentication (none may pass as a valid message).
    @Test func bitFlipsNeverAuthenticate() throws {
        let (pair, messages) = Self.sampleMessages()
        // messages: initiation (to Bob), response (to Alice), data (to Bob); the cookie reply went nowhere.
        let receivers: [WireGuardTunnel] = [pair.bob, pair.alice, pair.bob]
        for (message, receiver) in zip(messages.prefix(3), receivers) {
            for bit in 32..<(message.readableBytes * 8) {
                if message.getInteger(at: 0, as: UInt8.self) != 4, bit >= (message.readableBytes - 16) * 8 {
                    continue  // MAC2 is only checked by the rate limiter under load.
                }
                var flipped = message
                let byte = flipped.getInteger(at: bit / 8, as: UInt8.self)!
                flipped.setInteger(byte ^ (1 << (bit % 8)), at: bit / 8)
                var tunnel = receiver
                #expect(throws: WireGuardError.self) { try tunnel.decapsulate(&flipped, now: pair.now) }
            }
        }
    }

    @Test(arguments: TestSeeds.seeds(count: 4))
    func randomBytesAreRejected(seed: UInt64) throws {
        var rng = SeededRandomNumberGenerator(seed: seed)
        var (pair, _) = Self.sampleMessages()
        for _ in 0..<2000 {
            let length = Int.random(in: 0...200, using: &rng)
            var buffer = ByteBuffer(bytes: rng.bytes(length))
            // Give half of them a valid type byte and zero reserved bytes to reach deeper.
            if length >= 4, Bool.random(using: &rng) {
                buffer.setInteger(UInt32.random(in: 1...4, using: &rng).littleEndian, at: 0, endianness: .big)
            }
            let accepted = (try? pair.bob.decapsulate(&buffer, now: pair.now)) != nil
            #expect(!accepted, "\(TestSeeds.replayHint(seed))")
        }
    }
}
