import FirezoneTime
import NIOCore
import Testing

@testable import WireGuard

/// Allows inner IPv4 sources whose first octet is `octet` (the test packets' fill byte is their source address).
struct SourceOctet: AllowedIPs {
    let octet: UInt8

    func allowsSource(of packet: ByteBuffer) -> Bool {
        packet.getInteger(at: packet.readerIndex + 12, as: UInt8.self) == self.octet
    }
}

/// Two nodes, each with a router holding the other as its one peer; endpoints are plain strings.
struct RouterPair {
    typealias Router = WireGuardRouter<String, String, SourceOctet>
    typealias Outcome = Result<WireGuardRouterResult<String>, WireGuardRouterError>

    static let aliceSource = CookieSource(ipv4: 0x0A00_0001, port: 51820)
    static let bobSource = CookieSource(ipv4: 0x0A00_0002, port: 51820)

    var alice: Router
    var bob: Router
    var now = Instant.zero + .seconds(1)
    let aliceIndex: PeerIndex
    var reply = ByteBuffer()

    init(bobHandshakeRateLimit: Int = WireGuardConstants.handshakeRateLimit) throws {
        let aliceIdentity = LocalIdentity(secret: StaticSecret(testKey(1)))
        let bobIdentity = LocalIdentity(secret: StaticSecret(testKey(2)))
        self.alice = Router(identity: aliceIdentity, limiterSeed: testKey(30), indexSeed: 0xA11CE, now: self.now)
        self.bob = Router(
            identity: bobIdentity,
            handshakeRateLimit: bobHandshakeRateLimit,
            limiterSeed: testKey(31),
            indexSeed: 0xB0B,
            now: self.now
        )
        self.aliceIndex = try self.alice.addPeer(
            "bob",
            publicKey: bobIdentity.publicKey,
            endpoint: "bob:51820",
            allowedIPs: SourceOctet(octet: 0xB0),
            seed: testKey(32),
            logger: quietLogger,
            now: self.now,
            unixTime: Pair.unixStart
        )
        _ = try self.bob.addPeer(
            "alice",
            publicKey: aliceIdentity.publicKey,
            endpoint: nil,
            allowedIPs: SourceOctet(octet: 0xA0),
            seed: testKey(33),
            logger: quietLogger,
            now: self.now,
            unixTime: Pair.unixStart
        )
    }

    /// Everything `router`'s tunnel for `peer` has to send.
    static func drain(_ router: inout Router, peer: String, now: Instant) -> [ByteBuffer] {
        var datagrams: [ByteBuffer] = []
        var buffer = ByteBuffer()
        while router.pollTransmit(for: peer, into: &buffer, now: now) {
            datagrams.append(buffer)
            buffer = ByteBuffer()
        }
        return datagrams
    }

    static func deliver(
        _ datagrams: [ByteBuffer],
        to router: inout Router,
        from source: String,
        reply: inout ByteBuffer,
        now: Instant
    ) -> [Outcome] {
        datagrams.map { datagram in
            var datagram = datagram
            do throws(WireGuardRouterError) {
                return .success(
                    try router.decapsulate(
                        &datagram,
                        from: source,
                        cookieSource: Self.aliceSource,
                        reply: &reply,
                        now: now
                    )
                )
            } catch {
                return .failure(error)
            }
        }
    }

    mutating func drainAlice() -> [ByteBuffer] {
        Self.drain(&self.alice, peer: "bob", now: self.now)
    }

    mutating func toBob(_ datagrams: [ByteBuffer], from source: String) -> [Outcome] {
        Self.deliver(datagrams, to: &self.bob, from: source, reply: &self.reply, now: self.now)
    }

    mutating func toAlice(_ datagrams: [ByteBuffer], from source: String) -> [Outcome] {
        Self.deliver(datagrams, to: &self.alice, from: source, reply: &self.reply, now: self.now)
    }

    /// Alice's packet for Bob waits for a handshake, which completes; returns what Bob's router made of the
    /// datagrams that reached him.
    mutating func handshake(packet: ByteBuffer, aliceSource: String = "alice:1") -> [Outcome] {
        var buffer = ByteBuffer()
        _ = self.alice.encapsulate(packet, into: &buffer, for: "bob")
        var outcomes: [Outcome] = []
        for _ in 0..<3 {
            outcomes += self.toBob(self.drainAlice(), from: aliceSource)
            let fromBob = Self.drain(&self.bob, peer: "alice", now: self.now)
            _ = self.toAlice(fromBob, from: "bob:51820")
        }
        return outcomes
    }
}

extension WireGuardRouter {
    /// Copies `packet` behind 16 bytes of headroom and encapsulates it there.
    mutating func encapsulate(
        _ packet: ByteBuffer,
        into output: inout ByteBuffer,
        for peer: PeerID
    ) -> EncapsulateResult? {
        output.clear()
        output.writeRepeatingByte(0, count: WireGuardConstants.transportHeaderLength)
        output.moveReaderIndex(forwardBy: WireGuardConstants.transportHeaderLength)
        output.writeImmutableBuffer(packet)
        return self.encapsulate(&output, for: peer, now: Instant.zero + .seconds(1))
    }
}

struct WireGuardRouterTests {
    @Test func initiationIsRoutedByKeyAndTheRestByIndexThenAllowedIPsDecide() throws {
        var pair = try RouterPair()
        let outcomes = pair.handshake(packet: ipv4Packet(totalLength: 40, fill: 0xA0))
        #expect(outcomes == [.success(.handshake("alice")), .success(.packet("alice"))])
        #expect(pair.bob.endpoint(of: "alice") == "alice:1")

        var buffer = ByteBuffer()
        #expect(pair.alice.encapsulate(ipv4Packet(totalLength: 40, fill: 0xCC), into: &buffer, for: "bob") == .datagram)
        #expect(pair.toBob([buffer], from: "alice:1") == [.failure(.disallowedSource)])
        #expect(pair.bob.stats.packetsFromDisallowedSource == 1)
    }

    @Test func authenticatedDataMovesTheEndpointAndForgedDataDoesNot() throws {
        var pair = try RouterPair()
        _ = pair.handshake(packet: ipv4Packet(totalLength: 40, fill: 0xA0))
        var buffer = ByteBuffer()
        _ = pair.alice.encapsulate(ipv4Packet(totalLength: 40, fill: 0xA0), into: &buffer, for: "bob")
        var tampered = buffer
        tampered.setInteger(tampered.getInteger(at: 20, as: UInt8.self)! ^ 1, at: 20)
        #expect(pair.toBob([tampered], from: "mallory:666") == [.failure(.invalid(.decryptionFailed))])
        #expect(pair.bob.endpoint(of: "alice") == "alice:1")
        #expect(pair.toBob([buffer], from: "alice:2") == [.success(.packet("alice"))])
        #expect(pair.bob.endpoint(of: "alice") == "alice:2")
    }

    /// A cookie reply is bound to our MAC1 but not to the peer's static key: whoever saw it can resend it from
    /// anywhere, so it must not move the endpoint (§5.4.7).
    @Test func cookieReplyDoesNotMoveTheEndpoint() throws {
        var pair = try RouterPair(bobHandshakeRateLimit: 0)
        var buffer = ByteBuffer()
        #expect(pair.alice.encapsulate(ipv4Packet(totalLength: 40, fill: 0xA0), into: &buffer, for: "bob") == .queued)
        let initiation = pair.drainAlice()
        #expect(pair.toBob(initiation, from: "alice:1") == [.success(.sendCookieReply)])
        #expect(pair.bob.stats.cookieRepliesSent == 1)
        let cookieReply = pair.reply
        #expect(pair.toAlice([cookieReply], from: "mallory:666") == [.success(.handshake("bob"))])
        #expect(pair.alice.endpoint(of: "bob") == "bob:51820")
    }

    @Test func datagramsForNoKnownPeerAreCounted() throws {
        var pair = try RouterPair()
        var data = ByteBuffer()
        data.writeInteger(UInt32(4), endianness: .little)
        data.writeInteger(((pair.aliceIndex.rawValue ^ 1) << 8) | 1, endianness: .little)
        data.writeRepeatingByte(0, count: 24)
        #expect(pair.toAlice([data], from: "x:1") == [.failure(.unknownPeer)])

        var mallory = WireGuardTunnel(
            local: LocalIdentity(secret: StaticSecret(testKey(7))),
            remote: LocalIdentity(secret: StaticSecret(testKey(2))).publicKey,
            peerIndex: PeerIndex(5),
            seed: testKey(8),
            logger: quietLogger,
            now: pair.now,
            unixTime: Pair.unixStart
        )
        mallory.rollOverSession(now: pair.now)
        let initiation = Pair.drain(&mallory, now: pair.now)
        #expect(pair.toBob(initiation, from: "mallory:1") == [.failure(.unknownPeer)])
        #expect(pair.alice.stats.unknownPeers == 1)
        #expect(pair.bob.stats.unknownPeers == 1)
    }

    /// The router decrypts the initiator's static key to find the tunnel, and the tunnel finishes the initiation
    /// from there: DH(S_r, E_i) once, then the response's DH(E_r, E_i) and DH(E_r, S_i). DH(S_r, S_i) is
    /// precomputed per peer, as wireguard-go does.
    @Test func anInitiationCostsTheResponderOneDiffieHellmanWithItsStaticKey() throws {
        var pair = try RouterPair()
        var buffer = ByteBuffer()
        _ = pair.alice.encapsulate(ipv4Packet(totalLength: 40, fill: 0xA0), into: &buffer, for: "bob")
        let initiation = pair.drainAlice()
        let counter = SharedSecretCounter()
        let outcomes = X25519.$sharedSecretCounter.withValue(counter) {
            pair.toBob(initiation, from: "alice:1")
        }
        #expect(outcomes == [.success(.handshake("alice"))])
        #expect(counter.count.load(ordering: .relaxed) == 3)
    }

    @Test func addingAPeerTwiceIsRefused() throws {
        var pair = try RouterPair()
        #expect(throws: WireGuardRouterError.duplicatePeer) {
            try pair.alice.addPeer(
                "bob",
                publicKey: LocalIdentity(secret: StaticSecret(testKey(9))).publicKey,
                endpoint: nil,
                allowedIPs: SourceOctet(octet: 0),
                seed: testKey(34),
                logger: quietLogger,
                now: pair.now,
                unixTime: Pair.unixStart
            )
        }
    }

    /// A removed peer's index and key route nothing, and the peer that took its place in the array still routes
    /// by its own index and key.
    @Test func aRemovedPeerRoutesNothingAndTheOthersKeepRouting() throws {
        var pair = try RouterPair()
        let carolIdentity = LocalIdentity(secret: StaticSecret(testKey(10)))
        _ = try pair.bob.addPeer(
            "carol",
            publicKey: carolIdentity.publicKey,
            endpoint: nil,
            allowedIPs: SourceOctet(octet: 0xC0),
            seed: testKey(35),
            logger: quietLogger,
            now: pair.now,
            unixTime: Pair.unixStart
        )
        let outcomes = pair.handshake(packet: ipv4Packet(totalLength: 40, fill: 0xA0))
        #expect(outcomes.contains(.success(.packet("alice"))))

        let removed = pair.bob.removePeer("alice")
        let removedAgain = pair.bob.removePeer("alice")
        #expect(removed && !removedAgain)
        #expect(pair.bob.peerIDs == ["carol"])
        #expect(pair.bob.peer(withKey: carolIdentity.publicKey) == "carol")
        #expect(pair.bob.peer(withKey: LocalIdentity(secret: StaticSecret(testKey(1))).publicKey) == nil)

        var buffer = ByteBuffer()
        let encapsulated = pair.alice.encapsulate(ipv4Packet(totalLength: 40, fill: 0xA0), into: &buffer, for: "bob")
        #expect(encapsulated == .datagram)
        #expect(pair.toBob([buffer], from: "alice:1") == [.failure(.unknownPeer)])

        // The key can be added again under a new ID, with a new tunnel and index.
        _ = try pair.bob.addPeer(
            "alice again",
            publicKey: LocalIdentity(secret: StaticSecret(testKey(1))).publicKey,
            endpoint: nil,
            allowedIPs: SourceOctet(octet: 0xA0),
            seed: testKey(36),
            logger: quietLogger,
            now: pair.now,
            unixTime: Pair.unixStart
        )
        pair.alice.rollOverSession(for: "bob", now: pair.now + .seconds(30))
        let initiation = RouterPair.drain(&pair.alice, peer: "bob", now: pair.now + .seconds(30))
        #expect(pair.toBob(initiation, from: "alice:1") == [.success(.handshake("alice again"))])
    }
}
