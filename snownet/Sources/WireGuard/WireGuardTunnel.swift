import DequeModule
import FirezoneCrypto
import FirezoneTime
import IPPacket
import Logging
import NIOCore

/// The WireGuard state machine of one peer (what boringtun's `Tunn` is to Firezone, one per ICE connection):
/// handshakes, up to eight sessions, and the timers of WireGuard §6, without IO.
///
/// Driving loop: the shell hands every datagram from the peer to ``decapsulate(_:now:)`` and every IP packet for
/// the peer to ``encapsulate(_:now:)``, calls ``handleTimeout(now:unixTime:)`` when ``pollTimeout()`` is due, and
/// after each of these drains ``pollTransmit(into:now:)`` (datagrams for the peer) and ``pollEvent()``. The tunnel
/// never reads a clock or draws entropy: time comes in as `now` (monotonic) plus a wall-clock `unixTime` for
/// handshake timestamps, and randomness from the seed given at creation. State that depends on time (session
/// expiry) is advanced by every call that takes `now`, so getters need none.
///
/// Local session indices are `peerIndex << 8 | slot` (Firezone's rust/connlib/snownet/src/node.rs): the shell finds the tunnel of a response,
/// cookie reply or data packet by `receiverIndex.peer`, and the tunnel of an initiation by
/// ``LocalIdentity/decryptInitiation(_:)``.
public struct WireGuardTunnel {
    /// Our handshake, as initiator.
    private enum HandshakeState {
        /// No initiation of ours is in flight.
        case idle
        /// Our initiation is in flight; the retransmit and give-up timers run.
        case initiationSent(InitiationSent)
    }

    private struct InitiationSent {
        /// What the response will be consumed with; wiped when the state is left.
        var noise: Noise.InitiatorState
        /// When the first initiation of this attempt went out: the give-up timer counts from here.
        let attemptStarted: Instant
        /// When the latest (re)transmission went out.
        let sent: Instant
    }

    public let peerIndex: PeerIndex
    public let persistentKeepalive: Duration?
    /// How long a handshake is retried before the tunnel gives up and reports ``WireGuardTunnelEvent/connectionExpired``:
    /// ``WireGuardConstants/rekeyAttemptTime`` for classic WireGuard; Firezone uses 15 s over ICE, where a dead
    /// path should fail over quickly.
    public let handshakeTimeout: Duration
    private let local: LocalIdentity
    private let remote: RemoteIdentity
    private let presharedKey: PresharedKey
    /// DH(S_priv_local, S_pub_remote), computed once (wireguard-go `precomputedStaticStatic`); nil when the peer's
    /// key is a low-order point, which makes every handshake with it fail.
    private let staticShared: Bytes32?
    private var rng: KeyStream
    private let logger: Logger

    private var sessions: [Session?]
    /// The slot of the session outgoing packets use: the newest confirmed one.
    private var currentSlot: Int?
    private var nextSlot = 0
    /// Whether sessions keep their cipher contexts only for the packet at hand (``setLowPower(_:)``).
    private var lowPower = false
    private var handshake = HandshakeState.idle
    private var lastRollOver: Instant?
    /// The newest timestamp of an initiation accepted from the peer (§5.1, replay protection).
    private var greatestTimestampReceived: TAI64N?
    /// The timestamp of our last initiation: the next one is later even if the wall clock stepped back, or the
    /// peer would drop it as a replay until the clock caught up.
    private var lastTimestampSent: TAI64N?
    private var lastInitiationConsumed: Instant?
    private var cookie: (value: MAC, received: Instant)?
    /// MAC1 of our last handshake message and the index it was sent from: a cookie reply must name that index
    /// and be bound to that MAC1 (wireguard-go looks the receiver index up exactly). Cleared by the cookie reply
    /// it accepts, so a replayed reply is refused.
    private var lastSentMAC1: (mac: MAC, index: SessionIndex)?
    private var timers: [Instant?]
    private var handshakeMessages: Deque<ByteBuffer> = []
    private var keepalivePending = false
    private var queuedPackets: Deque<ByteBuffer> = []
    private var events: Deque<WireGuardTunnelEvent> = []
    private var lastNow: Instant
    /// `unixTime - now`, refreshed by ``handleTimeout(now:unixTime:)``, for handshake timestamps.
    private var unixOffset: Duration
    public private(set) var stats = WireGuardTunnelStats()
    /// When the last handshake completed (either side initiating), for a status view; nil before the first.
    public private(set) var lastHandshake: Instant?

    public init(
        local: LocalIdentity,
        remote: PublicKey,
        presharedKey: PresharedKey = .none,
        peerIndex: PeerIndex,
        persistentKeepalive: Duration? = nil,
        handshakeTimeout: Duration = WireGuardConstants.rekeyAttemptTime,
        seed: Bytes32,
        logger: Logger,
        now: Instant,
        unixTime: Duration
    ) {
        self.local = local
        self.remote = RemoteIdentity(remote)
        self.presharedKey = presharedKey
        self.staticShared = X25519.sharedSecret(local.secret, remote)
        self.peerIndex = peerIndex
        self.persistentKeepalive = persistentKeepalive
        self.handshakeTimeout = handshakeTimeout
        self.rng = KeyStream(seed: seed)
        var logger = logger
        logger[metadataKey: "peer.index"] = "\(peerIndex)"
        self.logger = logger
        self.sessions = Array(repeating: nil, count: WireGuardConstants.sessionSlots)
        self.timers = Array(repeating: nil, count: TimerKind.allCases.count)
        self.lastNow = now
        self.unixOffset = unixTime - (now - .zero)
        self.handshakeMessages.reserveCapacity(4)
        self.queuedPackets.reserveCapacity(16)
        if persistentKeepalive != nil {
            // wireguard-go sends a keepalive (and so a handshake) as soon as a persistent keepalive is configured.
            self.timers[TimerKind.persistentKeepalive.rawValue] = now
        }
    }

    public var remotePublicKey: PublicKey {
        self.remote.publicKey
    }

    /// Whether a session can carry outgoing packets.
    public var hasSession: Bool {
        self.currentSession != nil
    }

    /// Whether an initiation of ours is waiting for its response.
    public var isHandshaking: Bool {
        if case .initiationSent = self.handshake {
            return true
        }
        return false
    }

    /// The local index of the session outgoing packets use.
    public var currentSessionIndex: SessionIndex? {
        self.currentSlot.flatMap { self.sessions[$0]?.localIndex }
    }

    /// Expired sessions are dropped as soon as time passes their expiry (``advance(to:)``), so the current one, if
    /// any, is young enough.
    private var currentSession: Session? {
        guard let slot = self.currentSlot, let session = self.sessions[slot], session.canSend else {
            return nil
        }
        return session
    }

    private func timer(_ kind: TimerKind) -> Instant? {
        self.timers[kind.rawValue]
    }

    private mutating func setTimer(_ kind: TimerKind, _ deadline: Instant?) {
        self.timers[kind.rawValue] = deadline
    }

    // MARK: Outgoing

    /// Encrypts the IP packet in `packet`'s readable bytes in place into a transport datagram.
    ///
    /// `packet` must have at least ``WireGuardConstants/transportHeaderLength`` bytes before its reader index and
    /// room for 15 bytes of padding and the 16-byte tag after its writer index; then nothing is allocated or
    /// copied. Without a session the packet is copied into a queue and a handshake starts.
    public mutating func encapsulate(_ packet: inout ByteBuffer, now: Instant) -> EncapsulateResult {
        precondition(
            packet.readerIndex >= WireGuardConstants.transportHeaderLength,
            "encapsulate needs 16 bytes of headroom before the packet"
        )
        self.advance(to: now)
        guard let session = self.currentSession else {
            self.enqueue(packet)
            self.sendInitiation(now: now, isRetry: false)
            return .queued
        }
        self.seal(&packet, with: session, now: now)
        if session.needsRekeyAfterSending(now: now) {
            self.sendInitiation(now: now, isRetry: false)
        }
        return .datagram
    }

    /// Copies `packet` into `output` (cleared first) and encrypts it there; see ``encapsulate(_:now:)``.
    public mutating func encapsulate(
        _ packet: ByteBuffer,
        into output: inout ByteBuffer,
        now: Instant
    ) -> EncapsulateResult {
        output.clear()
        output.writeRepeatingByte(0, count: WireGuardConstants.transportHeaderLength)
        output.moveReaderIndex(forwardBy: WireGuardConstants.transportHeaderLength)
        output.writeImmutableBuffer(packet)
        return self.encapsulate(&output, now: now)
    }

    /// The next datagram for the peer (handshake messages, keepalives, packets that waited for a session) into
    /// `output`, which is cleared first; false when there is none.
    public mutating func pollTransmit(into output: inout ByteBuffer, now: Instant) -> Bool {
        self.advance(to: now)
        // The queues give their storage back once drained: they fill around a handshake, every two minutes at most,
        // and a gateway holds thousands of tunnels.
        if let message = self.handshakeMessages.popFirst() {
            if self.handshakeMessages.isEmpty {
                self.handshakeMessages = []
            }
            output.clear()
            output.writeImmutableBuffer(message)
            return true
        }
        guard let session = self.currentSession else {
            self.keepalivePending = false
            return false
        }
        if let packet = self.queuedPackets.popFirst() {
            if self.queuedPackets.isEmpty {
                self.queuedPackets = []
            }
            self.keepalivePending = false
            _ = self.encapsulate(packet, into: &output, now: now)
            return true
        }
        if self.keepalivePending {
            self.keepalivePending = false
            output.clear()
            output.writeRepeatingByte(0, count: WireGuardConstants.transportHeaderLength)
            output.moveReaderIndex(forwardBy: WireGuardConstants.transportHeaderLength)
            self.seal(&output, with: session, now: now)
            return true
        }
        return false
    }

    public mutating func pollEvent() -> WireGuardTunnelEvent? {
        defer {
            if self.events.isEmpty {
                self.events = []
            }
        }
        return self.events.popFirst()
    }

    /// Starts a new handshake so that a fresh session replaces the current one, at most once per
    /// ``WireGuardConstants/rollOverDebounce`` (Firezone #10102: a connection upsert rolls the session over).
    /// Low power: the sessions' cipher contexts (about 2.2 KB of heap per session) are freed now and after every
    /// packet, and set up again from the key for the next one. For a connection with little traffic (snownet's idle
    /// connections: a keep-alive every 25 s), where memory counts and a context's setup per packet does not.
    /// How many cipher contexts the sessions hold: two per session, none between packets in low power.
    public var cipherContexts: Int {
        self.sessions.reduce(0) { count, session in
            count + (session.map { ($0.sender.hasContext ? 1 : 0) + ($0.receiver.hasContext ? 1 : 0) } ?? 0)
        }
    }

    public mutating func setLowPower(_ on: Bool) {
        self.lowPower = on
        if on {
            for session in self.sessions {
                session?.releaseCiphers()
            }
        }
    }

    public mutating func rollOverSession(now: Instant) {
        self.advance(to: now)
        if let last = self.lastRollOver, now - last < WireGuardConstants.rollOverDebounce {
            return
        }
        self.lastRollOver = now
        self.sendInitiation(now: now, isRetry: false)
    }

    private mutating func enqueue(_ packet: ByteBuffer) {
        if self.queuedPackets.count >= WireGuardConstants.maximumQueuedPackets {
            self.queuedPackets.removeFirst()
            self.stats.packetsDroppedFromQueue += 1
        }
        // A copy: the caller reuses its buffer for the next packet.
        var copy = ByteBufferAllocator().buffer(capacity: packet.readableBytes)
        copy.writeImmutableBuffer(packet)
        self.queuedPackets.append(copy)
    }

    /// Writes the transport header in front of the readable bytes, pads them, seals them and appends the tag.
    private mutating func seal(_ buffer: inout ByteBuffer, with session: Session, now: Instant) {
        let length = buffer.readableBytes
        let padded = (length + WireGuardConstants.paddingMultiple - 1) & ~(WireGuardConstants.paddingMultiple - 1)
        buffer.writeRepeatingByte(0, count: padded - length + WireGuardConstants.tagLength)
        buffer.moveReaderIndex(to: buffer.readerIndex - WireGuardConstants.transportHeaderLength)
        let counter = session.takeSendingCounter()
        buffer.withUnsafeMutableReadableBytes { raw in
            raw.storeBytes(of: PacketType.transportData.word, as: UInt32.self)
            raw.storeBytes(
                of: session.remoteIndex.littleEndian,
                toByteOffset: WireGuardConstants.transportReceiverIndexOffset,
                as: UInt32.self
            )
            raw.storeBytes(
                of: counter.littleEndian,
                toByteOffset: WireGuardConstants.transportCounterOffset,
                as: UInt64.self
            )
            let header = WireGuardConstants.transportHeaderLength
            session.sender.seal(
                counter: counter,
                UnsafeMutableRawBufferPointer(rebasing: raw[header..<header + padded]),
                tag: raw.baseAddress! + header + padded
            )
        }
        if self.lowPower {
            session.sender.releaseContext()
        }
        self.stats.packetsSent += 1
        self.stats.bytesSent += UInt64(length)
        self.anyAuthenticatedPacketSent(now: now)
        if length > 0 {
            // wireguard-go `timersDataSent`.
            if self.timer(.newHandshake) == nil {
                self.setTimer(
                    .newHandshake,
                    now + WireGuardConstants.keepaliveTimeout + WireGuardConstants.rekeyTimeout
                )
            }
        }
    }

    // MARK: Incoming

    /// Processes one datagram from the peer in place. For ``DecapsulateResult/packet`` the readable bytes are then
    /// exactly the inner IP packet.
    public mutating func decapsulate(
        _ datagram: inout ByteBuffer,
        now: Instant
    ) throws(WireGuardError) -> DecapsulateResult {
        try self.decapsulate(&datagram, header: try PacketHeader(parsing: datagram), now: now)
    }

    /// ``decapsulate(_:now:)`` of a datagram whose header the caller parsed already (the router, which routes on it).
    mutating func decapsulate(
        _ datagram: inout ByteBuffer,
        header: PacketHeader,
        now: Instant
    ) throws(WireGuardError) -> DecapsulateResult {
        switch header {
        case .transportData(let receiverIndex):
            self.advance(to: now)
            return try self.openTransport(&datagram, index: receiverIndex, now: now)
        case .handshakeInitiation:
            let initiation = try self.local.decryptInitiation(datagram)
            return try self.decapsulate(datagram, initiation: initiation, now: now)
        case .handshakeResponse(let senderIndex, let receiverIndex):
            self.advance(to: now)
            try self.consumeResponse(datagram, senderIndex: senderIndex, receiverIndex: receiverIndex, now: now)
            return .handshake
        case .cookieReply(let receiverIndex):
            self.advance(to: now)
            try self.consumeCookieReply(datagram, index: receiverIndex, now: now)
            return .cookieReply
        }
    }

    /// Finishes the handshake initiation in `datagram`, whose initiator the caller already decrypted to choose this
    /// tunnel (``LocalIdentity/decryptInitiation(_:)``): one DH with our static key per initiation, not two.
    public mutating func decapsulate(
        _ datagram: ByteBuffer,
        initiation: consuming DecryptedInitiation,
        now: Instant
    ) throws(WireGuardError) -> DecapsulateResult {
        self.advance(to: now)
        guard initiation.initiatorKey == self.remote.publicKey else {
            initiation.setZero()
            throw .wrongPeer
        }
        guard let staticShared = self.staticShared else {
            initiation.setZero()
            throw .lowOrderPoint
        }
        var state = initiation.state
        defer { state.setZero() }
        let result: Result<Noise.ConsumedInitiation, WireGuardError> = datagram.withUnsafeReadableBytes { raw in
            do throws(WireGuardError) {
                return .success(try Noise.finishInitiation(raw, initiator: state, staticShared: staticShared))
            } catch {
                return .failure(error)
            }
        }
        initiation.setZero()
        try self.respond(to: try result.get(), now: now)
        return .handshake
    }

    private mutating func openTransport(
        _ datagram: inout ByteBuffer,
        index: SessionIndex,
        now: Instant
    ) throws(WireGuardError) -> DecapsulateResult {
        let slot = Int(index.slot)
        guard index.peer == self.peerIndex, slot < self.sessions.count, let session = self.sessions[slot],
            session.localIndex == index
        else {
            throw .unknownSession
        }
        let counter = datagram.withUnsafeReadableBytes {
            UInt64(
                littleEndian: $0.loadUnaligned(
                    fromByteOffset: WireGuardConstants.transportCounterOffset,
                    as: UInt64.self
                )
            )
        }
        guard session.replayWindow.mightAccept(counter) else {
            throw .replayedCounter
        }
        let authentic = datagram.withUnsafeMutableReadableBytes { raw in
            let header = WireGuardConstants.transportHeaderLength
            let tagStart = raw.count - WireGuardConstants.tagLength
            return session.receiver.open(
                counter: counter,
                UnsafeMutableRawBufferPointer(rebasing: raw[header..<tagStart]),
                tag: raw.baseAddress! + tagStart
            )
        }
        if self.lowPower {
            session.receiver.releaseContext()
        }
        guard authentic else {
            throw .decryptionFailed
        }
        guard session.replayWindow.accept(counter) else {
            throw .replayedCounter
        }
        if !session.confirmed {
            self.confirm(session, slot: slot)
        }
        self.anyAuthenticatedPacketReceived(now: now)
        if session.needsRekeyAfterReceiving(now: now), self.currentSlot == slot {
            self.sendInitiation(now: now, isRetry: false)
        }
        let plaintextLength = datagram.readableBytes - WireGuardConstants.transportOverhead
        if plaintextLength == 0 {
            self.stats.packetsReceived += 1
            return .keepalive
        }
        let packetLength = try Self.innerPacketLength(datagram, plaintextLength: plaintextLength)
        datagram.moveReaderIndex(forwardBy: WireGuardConstants.transportHeaderLength)
        datagram.moveWriterIndex(to: datagram.readerIndex + packetLength)
        self.stats.packetsReceived += 1
        self.stats.bytesReceived += UInt64(packetLength)
        // wireguard-go `timersDataReceived`.
        if self.timer(.sendKeepalive) == nil {
            self.setTimer(.sendKeepalive, now + WireGuardConstants.keepaliveTimeout)
        }
        return .packet
    }

    /// §5.4.6: the initiator used our responder session, so we may send on it too. Like wireguard-go's
    /// `timersHandshakeComplete` on the first packet of a new keypair, this completes the handshake: an initiation of
    /// ours still in flight (both sides started at once) is no longer needed, so it stops being retransmitted.
    private mutating func confirm(_ session: Session, slot: Int) {
        session.confirmed = true
        if let current = self.currentSlot.flatMap({ self.sessions[$0] }), current.established > session.established {
            // An initiation of ours completed later; keep sending on that one.
        } else {
            self.currentSlot = slot
        }
        self.abandonInitiation()
    }

    /// The length the inner IPv4 or IPv6 header declares (§5.4.6), which must cover that header and fit in the
    /// plaintext; the bytes after it are padding.
    private static func innerPacketLength(_ datagram: ByteBuffer, plaintextLength: Int) throws(WireGuardError) -> Int {
        let header = datagram.withUnsafeReadableBytes { raw -> IPHeader? in
            let start = WireGuardConstants.transportHeaderLength
            // A malformed header is dropped as `invalidInnerPacket`; which field was wrong does not matter here.
            return try? IPHeader(bytes: UnsafeRawBufferPointer(rebasing: raw[start..<start + plaintextLength]))
        }
        guard let header, header.totalLength >= header.headerLength, header.totalLength <= plaintextLength else {
            throw .invalidInnerPacket
        }
        return header.totalLength
    }

    /// §5.4.3: answers an authenticated initiation with a response and installs the responder session, unconfirmed.
    private mutating func respond(
        to initiation: consuming Noise.ConsumedInitiation,
        now: Instant
    ) throws(WireGuardError) {
        // §5.1: replay protection; wireguard-go additionally rate-limits initiations per peer.
        if let greatest = self.greatestTimestampReceived, initiation.timestamp <= greatest {
            initiation.initiator.setZero()
            throw .replayedTimestamp
        }
        if let last = self.lastInitiationConsumed, now - last < WireGuardConstants.handshakeInitiationRate {
            initiation.initiator.setZero()
            throw .handshakeFlood
        }
        self.greatestTimestampReceived = initiation.timestamp
        self.lastInitiationConsumed = now
        self.anyAuthenticatedPacketReceived(now: now)

        let slot = self.allocateSlot()
        let localIndex = SessionIndex(peer: self.peerIndex, slot: UInt8(slot))
        let remoteIndex = initiation.initiator.senderIndex
        var ephemeral = StaticSecret(self.rng.nextBytes32())
        defer { ephemeral.setZero() }
        var message = ByteBufferAllocator().buffer(capacity: WireGuardConstants.handshakeResponseLength)
        message.writeRepeatingByte(0, count: WireGuardConstants.handshakeResponseLength)
        let cookie = self.freshCookie(now: now)
        let response: Result<(Noise.SessionKeys, MAC), WireGuardError> = message.withUnsafeMutableReadableBytes { raw in
            do throws(WireGuardError) {
                let keys = try Noise.writeResponse(
                    into: raw,
                    initiation: initiation,
                    presharedKey: self.presharedKey,
                    localIndex: localIndex,
                    ephemeral: ephemeral
                )
                let mac1 = Noise.writeMACs(
                    into: raw,
                    mac1Offset: WireGuardConstants.responseMAC1Offset,
                    mac1Key: self.remote.mac1Key,
                    cookie: cookie
                )
                return .success((keys, mac1))
            } catch {
                return .failure(error)
            }
        }
        var (keys, mac1) = try response.get()
        self.lastSentMAC1 = (mac1, localIndex)
        self.install(
            Session(localIndex: localIndex, remoteIndex: remoteIndex, keys: &keys, isInitiator: false, now: now),
            slot: slot
        )
        self.handshakeMessages.append(message)
        self.anyAuthenticatedPacketSent(now: now)
        self.sessionDerived(localIndex, initiator: false, now: now)
    }

    private mutating func consumeResponse(
        _ datagram: ByteBuffer,
        senderIndex: UInt32,
        receiverIndex: SessionIndex,
        now: Instant
    ) throws(WireGuardError) {
        guard case .initiationSent(let sent) = self.handshake, sent.noise.localIndex == receiverIndex else {
            throw .unexpectedMessage
        }
        let result: Result<Noise.SessionKeys, WireGuardError> = datagram.withUnsafeReadableBytes { raw in
            guard Noise.checkMAC1(raw, mac1Offset: WireGuardConstants.responseMAC1Offset, mac1Key: self.local.mac1Key)
            else {
                return .failure(.invalidMAC1)
            }
            do throws(WireGuardError) {
                return .success(
                    try Noise.consumeResponse(
                        raw,
                        state: sent.noise,
                        local: self.local,
                        presharedKey: self.presharedKey
                    )
                )
            } catch {
                return .failure(error)
            }
        }
        var keys = try result.get()
        self.abandonInitiation()
        let slot = Int(receiverIndex.slot)
        self.install(
            Session(localIndex: receiverIndex, remoteIndex: senderIndex, keys: &keys, isInitiator: true, now: now),
            slot: slot
        )
        self.currentSlot = slot
        self.anyAuthenticatedPacketReceived(now: now)
        self.sessionDerived(receiverIndex, initiator: true, now: now)
        if self.queuedPackets.isEmpty {
            // §5.4.6: the responder waits for our first transport message before sending; without data to send,
            // a keepalive confirms the session (wireguard-go does the same).
            self.keepalivePending = true
        }
    }

    private mutating func consumeCookieReply(
        _ datagram: ByteBuffer,
        index: SessionIndex,
        now: Instant
    ) throws(WireGuardError) {
        guard let (mac1, sentFrom) = self.lastSentMAC1, sentFrom == index else {
            throw .unexpectedMessage
        }
        var cookie = MAC.zero
        let opened = datagram.withUnsafeReadableBytes { raw in
            withUnsafeMutableBytes(of: &cookie) { output in
                mac1.withUnsafeBytes { aad in
                    ChaCha20Poly1305.openExtended(
                        key: self.remote.cookieKey,
                        nonce: UnsafeRawBufferPointer(
                            rebasing: raw[
                                WireGuardConstants.cookieNonceOffset..<WireGuardConstants.cookieEncryptedOffset
                            ]
                        ),
                        ciphertext: UnsafeRawBufferPointer(rebasing: raw[WireGuardConstants.cookieEncryptedOffset...]),
                        aad: aad,
                        output: output.baseAddress!
                    )
                }
            }
        }
        guard opened else {
            throw .decryptionFailed
        }
        self.cookie = (cookie, now)
        // wireguard-go `ConsumeMessageCookieReply` clears `hasLastMAC1`: one cookie per handshake message, so a
        // replayed reply cannot refresh the cookie.
        self.lastSentMAC1 = nil
        self.logger.debug("Received cookie reply: the peer is under load")
    }

    // MARK: Handshakes and sessions

    /// §6.4: starts (or, for a retransmission, restarts) our handshake: a new ephemeral key and a new initiation.
    private mutating func sendInitiation(now: Instant, isRetry: Bool) {
        let attemptStarted: Instant
        switch self.handshake {
        case .initiationSent(let sent) where isRetry:
            attemptStarted = sent.attemptStarted
        case .initiationSent(let sent):
            if now - sent.sent < WireGuardConstants.rekeyTimeout {
                return
            }
            attemptStarted = now
        case .idle:
            attemptStarted = now
        }
        guard let staticShared = self.staticShared else {
            self.logger.debug("Not initiating a handshake: the peer's public key is a low-order point")
            return
        }
        let slot = self.allocateSlot()
        let localIndex = SessionIndex(peer: self.peerIndex, slot: UInt8(slot))
        var ephemeral = StaticSecret(self.rng.nextBytes32())
        defer { ephemeral.setZero() }
        let timestamp = self.nextTimestamp(now: now)
        let cookie = self.freshCookie(now: now)
        var message = ByteBufferAllocator().buffer(capacity: WireGuardConstants.handshakeInitiationLength)
        message.writeRepeatingByte(0, count: WireGuardConstants.handshakeInitiationLength)
        let written: (Noise.InitiatorState, MAC)? = message.withUnsafeMutableReadableBytes { raw in
            guard
                let state = Noise.writeInitiation(
                    into: raw,
                    local: self.local,
                    remote: self.remote,
                    staticShared: staticShared,
                    localIndex: localIndex,
                    ephemeral: ephemeral,
                    timestamp: timestamp
                )
            else {
                return nil
            }
            let mac1 = Noise.writeMACs(
                into: raw,
                mac1Offset: WireGuardConstants.initiationMAC1Offset,
                mac1Key: self.remote.mac1Key,
                cookie: cookie
            )
            return (state, mac1)
        }
        guard let (state, mac1) = written else {
            return
        }
        self.abandonInitiation()
        self.handshake = .initiationSent(InitiationSent(noise: state, attemptStarted: attemptStarted, sent: now))
        self.lastSentMAC1 = (mac1, localIndex)
        self.handshakeMessages.append(message)
        self.stats.handshakesInitiated += 1
        let jitter = Duration.nanoseconds(
            Int64(self.rng.next() % UInt64(WireGuardConstants.rekeyTimeoutJitterMaximum.nanoseconds))
        )
        self.setTimer(.retransmitHandshake, now + WireGuardConstants.rekeyTimeout + jitter)
        self.setTimer(.handshakeExpired, attemptStarted + self.handshakeTimeout)
        self.anyAuthenticatedPacketSent(now: now)
        self.logger.debug("Sent handshake initiation", metadata: ["session.index": "\(localIndex)"])
    }

    /// The TAI64N timestamp of a new initiation: the wall clock, but always later than the previous one, since the
    /// peer drops an initiation whose timestamp is not newer than the last it accepted (§5.1).
    private mutating func nextTimestamp(now: Instant) -> TAI64N {
        var timestamp = TAI64N(unixTime: self.unixOffset + (now - .zero))
        if let last = self.lastTimestampSent, timestamp <= last {
            timestamp = last.successor
        }
        self.lastTimestampSent = timestamp
        return timestamp
    }

    /// Leaves ``HandshakeState/initiationSent(_:)``: wipes its state and stops its timers.
    private mutating func abandonInitiation() {
        guard case .initiationSent(var sent) = self.handshake else {
            return
        }
        sent.noise.setZero()
        self.handshake = .idle
        self.setTimer(.retransmitHandshake, nil)
        self.setTimer(.handshakeExpired, nil)
    }

    /// The next slot for a new session or initiation, never the current session's or the initiation in flight's.
    private mutating func allocateSlot() -> Int {
        var inFlight: Int?
        if case .initiationSent(let sent) = self.handshake {
            inFlight = Int(sent.noise.localIndex.slot)
        }
        while true {
            let slot = self.nextSlot
            self.nextSlot = (self.nextSlot + 1) % WireGuardConstants.sessionSlots
            if slot != self.currentSlot && slot != inFlight {
                return slot
            }
        }
    }

    private mutating func install(_ session: Session, slot: Int) {
        if self.lowPower {
            session.releaseCiphers()
        }
        self.sessions[slot] = session
        if self.currentSlot == slot {
            self.currentSlot = nil
        }
        let expiry = session.established + WireGuardConstants.rejectAfterTime
        if expiry < self.timer(.expireSessions) ?? Instant(nanoseconds: .max) {
            self.setTimer(.expireSessions, expiry)
        }
    }

    /// wireguard-go `timersSessionDerived` plus bookkeeping.
    private mutating func sessionDerived(_ index: SessionIndex, initiator: Bool, now: Instant) {
        self.setTimer(.zeroKeyMaterial, now + WireGuardConstants.zeroKeyMaterialAfter)
        self.stats.handshakesCompleted += 1
        self.lastHandshake = now
        self.events.append(.handshakeCompleted(index, initiator: initiator))
        self.logger.debug(
            "Handshake completed",
            metadata: ["session.index": "\(index)", "session.initiator": "\(initiator)"]
        )
    }

    /// The cookie to put in MAC2, while it is fresh (§5.4.7).
    private func freshCookie(now: Instant) -> MAC? {
        guard let cookie = self.cookie, now - cookie.received < WireGuardConstants.cookieRefreshTime else {
            return nil
        }
        return cookie.value
    }

    // MARK: Timers

    /// Records `now` and drops sessions it made too old, so that nothing later needs `now` to tell whether a
    /// session is usable.
    private mutating func advance(to now: Instant) {
        if now > self.lastNow {
            self.lastNow = now
        }
        if let expiry = self.timer(.expireSessions), expiry <= now {
            self.expireSessions(now: now)
        }
    }

    /// §6.1: a session `rejectAfterTime` old is neither used nor accepted; it is dropped at once, which frees its
    /// cipher contexts (OpenSSL cleanses their keys).
    private mutating func expireSessions(now: Instant) {
        var next: Instant?
        for slot in self.sessions.indices {
            guard let session = self.sessions[slot] else {
                continue
            }
            let expiry = session.established + WireGuardConstants.rejectAfterTime
            if expiry <= now {
                self.sessions[slot] = nil
                if self.currentSlot == slot {
                    self.currentSlot = nil
                }
                self.logger.debug("Session expired", metadata: ["session.index": "\(session.localIndex)"])
            } else if expiry < next ?? Instant(nanoseconds: .max) {
                next = expiry
            }
        }
        self.setTimer(.expireSessions, next)
    }

    /// wireguard-go `timersAnyAuthenticatedPacketSent` and `…Traversal`.
    private mutating func anyAuthenticatedPacketSent(now: Instant) {
        self.setTimer(.sendKeepalive, nil)
        self.resetPersistentKeepalive(now: now)
    }

    /// wireguard-go `timersAnyAuthenticatedPacketReceived` and `…Traversal`.
    private mutating func anyAuthenticatedPacketReceived(now: Instant) {
        self.setTimer(.newHandshake, nil)
        self.resetPersistentKeepalive(now: now)
    }

    private mutating func resetPersistentKeepalive(now: Instant) {
        if let interval = self.persistentKeepalive {
            self.setTimer(.persistentKeepalive, now + interval)
        }
    }

    /// The earliest timer, never earlier than the last `now` seen.
    public func pollTimeout() -> (deadline: Instant, reason: StaticString)? {
        var earliest: (deadline: Instant, reason: StaticString)?
        for kind in TimerKind.allCases {
            if let deadline = self.timer(kind), deadline < earliest?.deadline ?? .init(nanoseconds: .max) {
                earliest = (max(deadline, self.lastNow), kind.reason)
            }
        }
        return earliest
    }

    /// Fires every due timer, in ``TimerKind`` order. `unixTime` is the wall clock at `now`, for handshake
    /// timestamps.
    public mutating func handleTimeout(now: Instant, unixTime: Duration) {
        self.advance(to: now)
        self.unixOffset = unixTime - (now - .zero)
        for kind in TimerKind.allCases {
            guard let deadline = self.timer(kind), deadline <= now else {
                continue
            }
            self.setTimer(kind, nil)
            switch kind {
            case .expireSessions:
                self.expireSessions(now: now)
            case .handshakeExpired:
                self.logger.debug("Handshake unanswered for the handshake timeout: giving up")
                self.expireConnection()
            case .retransmitHandshake:
                self.sendInitiation(now: now, isRetry: true)
            case .sendKeepalive:
                self.sendKeepalive(now: now)
            case .newHandshake:
                self.logger.debug("No packet received after sending data: starting a new handshake")
                self.sendInitiation(now: now, isRetry: false)
            case .persistentKeepalive:
                self.sendKeepalive(now: now)
            case .zeroKeyMaterial:
                self.logger.debug("No new session for three times REJECT_AFTER_TIME: erasing all keys")
                self.expireConnection()
            }
        }
    }

    /// A keepalive on the current session, or, without one, a handshake (wireguard-go `SendKeepalive` stages an
    /// empty packet, which triggers one).
    private mutating func sendKeepalive(now: Instant) {
        if self.currentSession != nil {
            self.keepalivePending = true
        } else {
            self.sendInitiation(now: now, isRetry: false)
        }
    }

    /// §6.3 and Firezone's boringtun fork (`ConnectionExpired`): every session, key and queued packet goes, and
    /// the owner learns that the connection is dead.
    private mutating func expireConnection() {
        for slot in self.sessions.indices {
            self.sessions[slot] = nil
        }
        self.currentSlot = nil
        self.abandonInitiation()
        for kind in [TimerKind.expireSessions, .sendKeepalive, .newHandshake, .zeroKeyMaterial] {
            self.setTimer(kind, nil)
        }
        self.stats.packetsDroppedFromQueue += UInt64(self.queuedPackets.count)
        self.queuedPackets.removeAll()
        self.keepalivePending = false
        self.events.append(.connectionExpired)
        self.logger.debug("Connection expired: all session keys erased")
    }
}

extension WireGuardTunnel: CustomStringConvertible {
    /// Names the peer and the session state, never key material (reflection would print every chaining key).
    public var description: String {
        "WireGuardTunnel(peer index \(self.peerIndex), remote \(self.remote.publicKey), "
            + "session \(self.currentSessionIndex.map { "\($0)" } ?? "none"), handshaking \(self.isHandshaking))"
    }
}
