import FirezoneCrypto
import FirezoneTesting
import NIOCore
import Testing

@testable import WireGuard

/// Byte-exact vectors from an independent implementation: `Vectors/make-vectors.py` (Python's hashlib/hmac BLAKE2s
/// and the `cryptography` package's X25519 and ChaCha20-Poly1305, handshake written from the paper) printed them.
struct KnownAnswerTests {
    enum Vector {
        static let initiatorStaticSecret = "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
        static let responderStaticSecret = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        static let initiatorEphemeralSecret = "707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f"
        static let responderEphemeralSecret = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        static let initiatorPublicKey = "d89e3bad79437dbed9f843418304f460ff05c7fe81fe4a9577a804cb9367ff66"
        static let responderPublicKey = "79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a"
        static let presharedKey = "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
        static let timestamp = "40000000684ee18a12000000"
        static let initiation =
            "0100000001cdab0023b7bb8c91ae008711fb12846780bcdf1e065f821bdfec49f57e7c7dcd4c48237c9f087a47c7776566936c12f69cdefeb0172eed5225b21ffd5b64d7cbdcc06f5db9067ffb754a97052851ac628edb82dd2c601db130e9bc7728bd960c0db8c6f6c13136deb456044d21a7f2bf34292380e26be4e6431cdee30c764c00000000000000000000000000000000"
        static let response =
            "020000000534120001cdab00605a725d2a4adfeeb1a29e17edd621c1b7593ee8cdbc44ac6c4ab6e2f805d23c1484a6ceeb0ba32fc7542c62c7c21ab2acbcea71037d8ae7583e8c13c2b1987d00000000000000000000000000000000"
        static let initiatorSendingKey = "24538fbb2f7b0840790ff8bf90b1ba327f60abf80e70035d8814528477206e03"
        static let initiatorReceivingKey = "5d2d3fc0fc221c39f0fa4884d050609578db6fd101c6eaf565603d96f46ac756"
        static let payload = "450000210000400040110000c0a80001c0a8000268656c6c6f2077697265677561"
        static let transportPacket =
            "04000000053412000700000000000000608b3791ca2bef8ab6b210142d48e308ed7ed15324ebc3a71394e9f75d357ed4bec4f9ce25b43c4df3390ec708601f05b1c34542a3dec325262ce447cade8a93"
        static let blake2sABC = "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982"
        static let hmacBLAKE2s = "5415924543576b3f5ee867c94e1aab70586d33b32fae3fccd2c635b3e1d7198d"
        static let keyedBLAKE2s128 = "c44bc1a201f2ff374d10eda15244ad8a"
        static let senderIndex: UInt32 = 0x00AB_CD01
        static let responderIndex: UInt32 = 0x0012_3405
    }

    let initiator = LocalIdentity(secret: StaticSecret(key32(hex: Vector.initiatorStaticSecret)))
    let responder = LocalIdentity(secret: StaticSecret(key32(hex: Vector.responderStaticSecret)))
    let presharedKey = PresharedKey(key32(hex: Vector.presharedKey))

    @Test func blake2sPrimitivesMatchHashlib() {
        let abc: [UInt8] = Array("abc".utf8)
        let message: [UInt8] = Array("WireGuard".utf8)
        let key = Bytes32((0..<32).map { UInt8($0) })!
        #expect(hex(abc.withUnsafeBytes { BLAKE2s.hash($0) }.bytes) == Vector.blake2sABC)
        #expect(hex(message.withUnsafeBytes { BLAKE2s.hmac(key: key, $0) }.bytes) == Vector.hmacBLAKE2s)
        let mac = key.withUnsafeBytes { key in message.withUnsafeBytes { BLAKE2s.mac(key: key, $0) } }
        #expect(hex(mac.withUnsafeBytes { Array($0) }) == Vector.keyedBLAKE2s128)
    }

    @Test func x25519PublicKeysMatchCryptography() {
        #expect(hex(self.initiator.publicKey.rawValue.bytes) == Vector.initiatorPublicKey)
        #expect(hex(self.responder.publicKey.rawValue.bytes) == Vector.responderPublicKey)
    }

    @Test func timestampIsWhitenedTAI64N() {
        let stamp = TAI64N(unixTime: .seconds(1_750_000_000) + .nanoseconds(0x1234_5678))
        var raw = [UInt8](repeating: 0, count: 12)
        raw.withUnsafeMutableBytes { stamp.write(to: $0.baseAddress!) }
        #expect(hex(raw) == Vector.timestamp)
    }

    @Test func initiationMatchesVectorByteForByte() throws {
        var message = [UInt8](repeating: 0, count: 148)
        let state = message.withUnsafeMutableBytes { raw -> Noise.InitiatorState? in
            let state = Noise.writeInitiation(
                into: raw,
                local: self.initiator,
                remote: RemoteIdentity(self.responder.publicKey),
                staticShared: X25519.sharedSecret(self.initiator.secret, self.responder.publicKey)!,
                localIndex: SessionIndex(rawValue: Vector.senderIndex),
                ephemeral: StaticSecret(key32(hex: Vector.initiatorEphemeralSecret)),
                timestamp: TAI64N(unixTime: .seconds(1_750_000_000) + .nanoseconds(0x1200_0000))
            )
            _ = Noise.writeMACs(
                into: raw,
                mac1Offset: 116,
                mac1Key: RemoteIdentity(self.responder.publicKey).mac1Key,
                cookie: nil
            )
            return state
        }
        #expect(state != nil)
        #expect(hex(message) == Vector.initiation)
    }

    @Test func responderConsumesInitiationAndWritesVectorResponse() throws {
        let initiation = bytes(hex: Vector.initiation)
        let consumed = try initiation.withUnsafeBytes { raw throws(WireGuardError) in
            let initiator = try Noise.decryptInitiator(raw, local: self.responder)
            return try Noise.finishInitiation(
                raw,
                initiator: initiator,
                staticShared: X25519.sharedSecret(self.responder.secret, self.initiator.publicKey)!
            )
        }
        #expect(consumed.initiator.staticKey == self.initiator.publicKey)
        var message = [UInt8](repeating: 0, count: 92)
        let keys = try message.withUnsafeMutableBytes { raw throws(WireGuardError) in
            let keys = try Noise.writeResponse(
                into: raw,
                initiation: consumed,
                presharedKey: self.presharedKey,
                localIndex: SessionIndex(rawValue: Vector.responderIndex),
                ephemeral: StaticSecret(key32(hex: Vector.responderEphemeralSecret))
            )
            _ = Noise.writeMACs(
                into: raw,
                mac1Offset: 60,
                mac1Key: RemoteIdentity(self.initiator.publicKey).mac1Key,
                cookie: nil
            )
            return keys
        }
        #expect(hex(message) == Vector.response)
        #expect(hex(keys.receiving.bytes) == Vector.initiatorSendingKey)
        #expect(hex(keys.sending.bytes) == Vector.initiatorReceivingKey)
    }

    @Test func initiatorConsumesVectorResponseIntoVectorKeys() throws {
        var scratch = [UInt8](repeating: 0, count: 148)
        let state = try #require(
            scratch.withUnsafeMutableBytes { raw in
                Noise.writeInitiation(
                    into: raw,
                    local: self.initiator,
                    remote: RemoteIdentity(self.responder.publicKey),
                    staticShared: X25519.sharedSecret(self.initiator.secret, self.responder.publicKey)!,
                    localIndex: SessionIndex(rawValue: Vector.senderIndex),
                    ephemeral: StaticSecret(key32(hex: Vector.initiatorEphemeralSecret)),
                    timestamp: TAI64N(unixTime: .seconds(1_750_000_000) + .nanoseconds(0x1200_0000))
                )
            }
        )
        let response = bytes(hex: Vector.response)
        let keys = try response.withUnsafeBytes { raw throws(WireGuardError) in
            try Noise.consumeResponse(raw, state: state, local: self.initiator, presharedKey: self.presharedKey)
        }
        #expect(hex(keys.sending.bytes) == Vector.initiatorSendingKey)
        #expect(hex(keys.receiving.bytes) == Vector.initiatorReceivingKey)
    }

    @Test(arguments: ["openssl", "sodium"])
    func transportSealMatchesVector(implementation: String) {
        let key = key32(hex: Vector.initiatorSendingKey)
        let cipher: any TransportAEAD =
            implementation == "openssl" ? OpenSSLChaCha20Poly1305(key: key) : SodiumChaCha20Poly1305(key: key)
        var payload = bytes(hex: Vector.payload)
        payload += [UInt8](repeating: 0, count: (16 - payload.count % 16) % 16)
        var tag = [UInt8](repeating: 0, count: 16)
        payload.withUnsafeMutableBytes { plaintext in
            tag.withUnsafeMutableBytes { cipher.seal(counter: 7, plaintext, tag: $0.baseAddress!) }
        }
        let expected = bytes(hex: Vector.transportPacket)
        #expect(hex(payload + tag) == hex(expected[16...]))
        // And back.
        let opened = payload.withUnsafeMutableBytes { ciphertext in
            tag.withUnsafeBytes { cipher.open(counter: 7, ciphertext, tag: $0.baseAddress!) }
        }
        #expect(opened)
        #expect(hex(payload.prefix(33)) == Vector.payload)
    }
}
