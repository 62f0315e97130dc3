import FirezoneCrypto
import FirezoneTime
import NIOCore

/// The node-wide guard in front of every tunnel's handshake processing: checks MAC1 and, under load, demands a
/// valid MAC2 and answers without one with a cookie reply (WireGuard §5.3, §5.4.7).
///
/// Load is measured as in boringtun's `RateLimiter`, which Firezone uses with a limit of 100 (Firezone's rust/connlib/snownet/src/node.rs):
/// handshake messages per second across all peers. Below the limit every message with a valid MAC1 passes; above
/// it only those whose MAC2 proves the sender can receive at its source address. Transport data and cookie
/// replies are not handshakes and always pass.
public struct HandshakeRateLimiter {
    /// What to do with a datagram.
    public enum Verdict: Hashable, Sendable {
        /// Hand it to the tunnel.
        case accept
        /// Drop it and send the cookie reply now in the reply buffer back to its source.
        case sendCookieReply
    }

    private let identity: LocalIdentity
    private let limit: Int
    private var rng: KeyStream
    private var secret: Bytes32
    private var secretCreated: Instant
    private var windowStart: Instant
    private var handshakesInWindow = 0
    public private(set) var cookieRepliesSent: UInt64 = 0

    public init(
        identity: LocalIdentity,
        limit: Int = WireGuardConstants.handshakeRateLimit,
        seed: Bytes32,
        now: Instant
    ) {
        self.identity = identity
        self.limit = limit
        self.rng = KeyStream(seed: seed)
        self.secret = self.rng.nextBytes32()
        self.secretCreated = now
        self.windowStart = now
    }

    /// Whether the node is over its handshake budget in the current second.
    public var isUnderLoad: Bool {
        self.handshakesInWindow > self.limit
    }

    /// Judges one datagram from `source`. Handshake messages with a wrong MAC1 throw ``WireGuardError/invalidMAC1``;
    /// for ``Verdict/sendCookieReply`` the reply is written into `reply` (cleared first).
    public mutating func check(
        _ datagram: ByteBuffer,
        from source: CookieSource,
        reply: inout ByteBuffer,
        now: Instant
    ) throws(WireGuardError) -> Verdict {
        let mac1Offset: Int
        let senderIndex: UInt32
        switch try PacketHeader(parsing: datagram) {
        case .handshakeInitiation(let sender):
            (mac1Offset, senderIndex) = (WireGuardConstants.initiationMAC1Offset, sender)
        case .handshakeResponse(let sender, _):
            (mac1Offset, senderIndex) = (WireGuardConstants.responseMAC1Offset, sender)
        case .cookieReply, .transportData:
            return .accept
        }
        let validMAC1 = datagram.withUnsafeReadableBytes { raw in
            Noise.checkMAC1(raw, mac1Offset: mac1Offset, mac1Key: self.identity.mac1Key)
        }
        guard validMAC1 else {
            throw .invalidMAC1
        }
        if now - self.windowStart >= .seconds(1) {
            self.windowStart = now
            self.handshakesInWindow = 0
        }
        self.handshakesInWindow += 1
        guard self.isUnderLoad else {
            return .accept
        }
        if now - self.secretCreated >= WireGuardConstants.cookieRefreshTime {
            self.secret = self.rng.nextBytes32()
            self.secretCreated = now
        }
        // τ := Mac(R_m, A_m); the sender proves it holds τ with msg.mac2 := Mac(τ, msg_β).
        let cookie = self.secret.withUnsafeBytes { secret in
            source.withUnsafeBytes { BLAKE2s.mac(key: secret, $0) }
        }
        let mac2Offset = mac1Offset + WireGuardConstants.macLength
        let validMAC2 = datagram.withUnsafeReadableBytes { raw in
            let expected = cookie.withUnsafeBytes { key in
                BLAKE2s.mac(key: key, UnsafeRawBufferPointer(rebasing: raw[0..<mac2Offset]))
            }
            return expected == MAC(copying: raw.baseAddress! + mac2Offset)
        }
        if validMAC2 {
            return .accept
        }
        self.writeCookieReply(cookie, for: datagram, senderIndex: senderIndex, mac1Offset: mac1Offset, into: &reply)
        return .sendCookieReply
    }

    /// §5.4.7: `msg.receiver := I_m; msg.nonce := random; msg.cookie := Xaead(Hash(Label-Cookie ‖ S_pub_m), msg.nonce,
    /// τ, M)` where `M` is the MAC1 of the message being answered.
    private mutating func writeCookieReply(
        _ cookie: MAC,
        for datagram: ByteBuffer,
        senderIndex: UInt32,
        mac1Offset: Int,
        into reply: inout ByteBuffer
    ) {
        let nonce = self.rng.nextBytes32()
        reply.clear()
        reply.writeRepeatingByte(0, count: WireGuardConstants.cookieReplyLength)
        let mac1 = datagram.withUnsafeReadableBytes { MAC(copying: $0.baseAddress! + mac1Offset) }
        reply.withUnsafeMutableReadableBytes { raw in
            raw.storeBytes(of: PacketType.cookieReply.word, as: UInt32.self)
            raw.storeBytes(
                of: senderIndex.littleEndian,
                toByteOffset: WireGuardConstants.cookieReceiverIndexOffset,
                as: UInt32.self
            )
            nonce.withUnsafeBytes { nonce in
                let nonceBytes = UnsafeRawBufferPointer(rebasing: nonce[0..<WireGuardConstants.cookieNonceLength])
                UnsafeMutableRawBufferPointer(
                    rebasing: raw[WireGuardConstants.cookieNonceOffset..<WireGuardConstants.cookieEncryptedOffset]
                ).copyMemory(from: nonceBytes)
                cookie.withUnsafeBytes { plaintext in
                    mac1.withUnsafeBytes { aad in
                        ChaCha20Poly1305.sealExtended(
                            key: self.identity.cookieKey,
                            nonce: nonceBytes,
                            plaintext: plaintext,
                            aad: aad,
                            output: raw.baseAddress! + WireGuardConstants.cookieEncryptedOffset
                        )
                    }
                }
            }
        }
        self.cookieRepliesSent += 1
    }
}
