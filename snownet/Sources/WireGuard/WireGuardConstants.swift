/// WireGuard's protocol constants, named after the paper (Donenfeld, "WireGuard: Next Generation Kernel Network
/// Tunnel", §5.4 and §6) and wireguard-go's `device/constants.go`.
public enum WireGuardConstants {
    // MARK: Specification

    /// §5.4: "Construction: the UTF-8 string literal "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s", 37 bytes".
    static let construction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
    /// §5.4: "Identifier: the UTF-8 string literal "WireGuard v1 zx2c4 Jason@zx2c4.com", 34 bytes".
    static let identifier = "WireGuard v1 zx2c4 Jason@zx2c4.com"
    /// §5.4: "LabelMac1: the UTF-8 string literal "mac1----", 8 bytes".
    static let labelMAC1 = "mac1----"
    /// §5.4: "LabelCookie: the UTF-8 string literal "cookie--", 8 bytes".
    static let labelCookie = "cookie--"

    /// §6.1: after this many messages on one session, the sender starts a new handshake.
    public static let rekeyAfterMessages: UInt64 = 1 << 60
    /// §6.1: no message is sent or accepted beyond this counter on one session.
    public static let rejectAfterMessages: UInt64 = .max - (1 << 13)
    /// §6.1: the initiator of a session starts a new handshake when it sends on a session this old.
    public static let rekeyAfterTime: Duration = .seconds(120)
    /// §6.1: a session this old is neither used nor accepted.
    public static let rejectAfterTime: Duration = .seconds(180)
    /// §6.1: a handshake is retried for at most this long before queued packets are dropped.
    public static let rekeyAttemptTime: Duration = .seconds(90)
    /// §6.1: an unanswered initiation is retransmitted after this long.
    public static let rekeyTimeout: Duration = .seconds(5)
    /// §6.1: a peer that received data and sent nothing for this long sends a keepalive.
    public static let keepaliveTimeout: Duration = .seconds(10)
    /// §5.4.7: a cookie secret (and a received cookie) is used for this long.
    public static let cookieRefreshTime: Duration = .seconds(120)
    /// §6.3: all session keys are erased after three times `rejectAfterTime` without a new session.
    public static let zeroKeyMaterialAfter: Duration = .seconds(3 * 180)
    /// wireguard-go `RekeyTimeoutJitterMaxMs`: up to a third of a second added to retransmissions so that two
    /// peers do not retry in lockstep.
    public static let rekeyTimeoutJitterMaximum: Duration = .milliseconds(334)

    public static let handshakeInitiationLength = 148
    public static let handshakeResponseLength = 92
    public static let cookieReplyLength = 64
    /// Type, reserved, receiver index and counter.
    public static let transportHeaderLength = 16
    /// The Poly1305 tag after every encrypted field.
    public static let tagLength = 16
    /// Transport header plus tag: what WireGuard adds to every packet.
    public static let transportOverhead = transportHeaderLength + tagLength
    /// §5.4.6: "P is padded to a multiple of 16 bytes".
    public static let paddingMultiple = 16
    static let macLength = 16
    static let timestampLength = 12
    static let cookieNonceLength = 24

    // Field offsets (§5.4.2, §5.4.3, §5.4.7, §5.4.6).
    static let senderIndexOffset = 4
    static let initiationEphemeralOffset = 8
    static let initiationStaticOffset = 40
    static let initiationTimestampOffset = 88
    static let initiationMAC1Offset = 116
    static let responseReceiverIndexOffset = 8
    static let responseEphemeralOffset = 12
    static let responseEmptyOffset = 44
    static let responseMAC1Offset = 60
    static let cookieReceiverIndexOffset = 4
    static let cookieNonceOffset = 8
    static let cookieEncryptedOffset = 32
    static let transportReceiverIndexOffset = 4
    static let transportCounterOffset = 8

    // MARK: Implementation

    /// Concurrent sessions per peer, for a smooth roll-over (Firezone's boringtun fork keeps 8): the low byte of a
    /// session index picks one of these slots.
    public static let sessionSlots = 8
    /// wireguard-go `HandshakeInitationRate`: initiations from one peer closer together than this are dropped, so a
    /// replayed flood cannot make us compute DH at line rate.
    public static let handshakeInitiationRate: Duration = .milliseconds(20)
    /// Packets waiting for a handshake (boringtun `MAX_QUEUE_DEPTH`); older ones are dropped beyond it.
    public static let maximumQueuedPackets = 256
    /// Handshake messages per second a node accepts before it answers with cookies (Firezone's limit, reference
    /// §2.1).
    public static let handshakeRateLimit = 100
    /// wireguard-go `tai64n.whitenerMask`: timestamps are rounded down to about 16 ms so they do not leak the
    /// precise clock.
    static let timestampWhitenerMask: UInt32 = 0x00FF_FFFF
    /// TAI64's label for 1970 (2^62), plus the 10 s TAI–UTC offset wireguard-go adds.
    static let tai64Base: UInt64 = 0x4000_0000_0000_000a
    /// Roll-overs requested by the caller (a connection upsert) are debounced to one per this interval
    /// (Firezone #10102).
    public static let rollOverDebounce: Duration = .seconds(20)
}
