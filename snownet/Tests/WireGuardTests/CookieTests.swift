import FirezoneTime
import NIOCore
import Testing
import WireGuard

/// The rate limiter in front of the tunnels: cookies under load (§5.3, §5.4.7).
struct CookieTests {
    let source = CookieSource(ipv4: 0x0A63_0001, port: 51820)

    @Test func underLoadInitiationGetsCookieReplyAndRetransmissionWithMAC2IsAccepted() throws {
        var pair = Pair()
        var limiter = HandshakeRateLimiter(identity: pair.bobIdentity, limit: 0, seed: testKey(20), now: pair.now)
        pair.alice.rollOverSession(now: pair.now)
        let initiation = Pair.drain(&pair.alice, now: pair.now)[0]
        var reply = ByteBuffer()
        let verdict = try limiter.check(initiation, from: self.source, reply: &reply, now: pair.now)
        #expect(verdict == .sendCookieReply)
        #expect(reply.readableBytes == 64)
        #expect(reply.getInteger(at: 0, as: UInt8.self) == 3)
        #expect(Pair.deliver([reply], to: &pair.alice, now: pair.now).results == [.success(.cookieReply)])

        // The retransmission carries MAC2 from the cookie and passes even under load.
        pair.advance(by: .seconds(6))
        pair.alice.handleTimeout(now: pair.now, unixTime: pair.unixTime)
        let retransmission = Pair.drain(&pair.alice, now: pair.now)[0]
        let verdict2 = try limiter.check(retransmission, from: self.source, reply: &reply, now: pair.now)
        #expect(verdict2 == .accept)
        // From another address the cookie does not fit.
        let elsewhere = CookieSource(ipv6High: 0xfd00 << 48, low: 1, port: 51820)
        let verdict3 = try limiter.check(retransmission, from: elsewhere, reply: &reply, now: pair.now)
        #expect(verdict3 == .sendCookieReply)
        #expect(Pair.deliver([retransmission], to: &pair.bob, now: pair.now).results == [.success(.handshake)])
        pair.exchange()
        #expect(pair.alice.hasSession)
    }

    /// Found by the `wireguard` fuzz target: the receiver index is not covered by the cookie's AEAD, so it must
    /// be checked against the index our handshake message came from.
    @Test func cookieReplyNamingAnotherIndexIsRejected() throws {
        var pair = Pair()
        var limiter = HandshakeRateLimiter(identity: pair.bobIdentity, limit: 0, seed: testKey(20), now: pair.now)
        pair.alice.rollOverSession(now: pair.now)
        let initiation = Pair.drain(&pair.alice, now: pair.now)[0]
        var reply = ByteBuffer()
        _ = try limiter.check(initiation, from: self.source, reply: &reply, now: pair.now)
        for offset in 4..<8 {
            var altered = reply
            altered.setInteger(altered.getInteger(at: offset, as: UInt8.self)! ^ 0x01, at: offset)
            #expect(Pair.deliver([altered], to: &pair.alice, now: pair.now).results == [.failure(.unexpectedMessage)])
        }
        #expect(Pair.deliver([reply], to: &pair.alice, now: pair.now).results == [.success(.cookieReply)])
    }

    /// wireguard-go clears the MAC1 a cookie reply is bound to once it accepts one: the same reply again (a replay
    /// by anyone on the path) is refused instead of refreshing the cookie.
    @Test func replayedCookieReplyIsRejected() throws {
        var pair = Pair()
        var limiter = HandshakeRateLimiter(identity: pair.bobIdentity, limit: 0, seed: testKey(20), now: pair.now)
        pair.alice.rollOverSession(now: pair.now)
        let initiation = Pair.drain(&pair.alice, now: pair.now)[0]
        var reply = ByteBuffer()
        let verdict = try limiter.check(initiation, from: self.source, reply: &reply, now: pair.now)
        #expect(verdict == .sendCookieReply)
        #expect(Pair.deliver([reply], to: &pair.alice, now: pair.now).results == [.success(.cookieReply)])
        pair.advance(by: .seconds(1))
        #expect(Pair.deliver([reply], to: &pair.alice, now: pair.now).results == [.failure(.unexpectedMessage)])
    }

    @Test func belowTheLimitEverythingWithValidMAC1Passes() throws {
        var pair = Pair()
        var limiter = HandshakeRateLimiter(identity: pair.bobIdentity, limit: 3, seed: testKey(20), now: pair.now)
        var verdicts: [HandshakeRateLimiter.Verdict] = []
        var reply = ByteBuffer()
        for _ in 0..<5 {
            pair.advance(by: .milliseconds(100))
            pair.alice.rollOverSession(now: pair.now)
            pair.advance(by: .seconds(21))
            for datagram in Pair.drain(&pair.alice, now: pair.now) {
                verdicts.append(try limiter.check(datagram, from: self.source, reply: &reply, now: pair.now))
            }
        }
        // 21 s between messages: every window holds one handshake.
        #expect(verdicts == Array(repeating: .accept, count: 5))

        // A burst within one second goes over the limit.
        var burst: [HandshakeRateLimiter.Verdict] = []
        let initiation = Pair.drain(&pair.alice, now: pair.now)
        pair.alice.rollOverSession(now: pair.now + .seconds(30))
        let message = Pair.drain(&pair.alice, now: pair.now + .seconds(30))
        #expect(initiation.isEmpty)
        for _ in 0..<5 {
            burst.append(try limiter.check(message[0], from: self.source, reply: &reply, now: pair.now + .seconds(30)))
        }
        #expect(burst == [.accept, .accept, .accept, .sendCookieReply, .sendCookieReply])
    }

    @Test func wrongMAC1IsRejectedBeforeAnyWork() throws {
        var pair = Pair()
        var limiter = HandshakeRateLimiter(identity: pair.aliceIdentity, seed: testKey(20), now: pair.now)
        pair.alice.rollOverSession(now: pair.now)
        // Addressed to Bob, not to Alice.
        let initiation = Pair.drain(&pair.alice, now: pair.now)[0]
        var reply = ByteBuffer()
        #expect(throws: WireGuardError.invalidMAC1) {
            try limiter.check(initiation, from: self.source, reply: &reply, now: pair.now)
        }
    }
}
