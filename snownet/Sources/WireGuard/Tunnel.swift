import DequeModule
import FirezoneCrypto
import FirezoneTime
import Logging
import NIOCore

/// The WireGuard state machine of one peer (what boringtun's `Tunn` is to Firezone): handshakes, up to eight
/// sessions, and the timers of WireGuard §6, without IO.
///
/// Driving loop: the shell hands every datagram from the peer to ``decapsulate(_:now:)`` and every IP packet for
/// the peer to ``encapsulate(_:now:)``, calls ``handleTimeout(now:unixTime:)`` when ``pollTimeout()`` is due, and
/// after each of these drains ``pollTransmit(into:now:)`` (datagrams for the peer) and ``pollEvent()``. The tunnel
/// never reads a clock or draws entropy: time comes in as `now` (monotonic) plus a wall-clock `unixTime` for
/// handshake timestamps, and randomness from the seed given at creation.
///
/// Local session indices are `peerIndex << 8 | slot` (reference §2.1): the shell finds the tunnel of a response,
/// cookie reply or data packet by `receiverIndex.peer`, and the tunnel of an initiation by
/// ``LocalIdentity/initiatorKey(of:)``.
public struct Tunnel {
    /// The timers of WireGuard §6.2–§6.5 (wireguard-go `timers.go`), handled in declaration order.
    public enum TimerKind: Int, CaseIterable, Sendable {
        /// An initiation went unanswered: resend it, or give up after `rekeyAttemptTime`.
        case retransmitHandshake
        /// We received data and sent nothing since: send a keepalive so the peer knows the session works.
        case sendKeepalive
        /// We sent data and received nothing since: the session may be dead, start a new handshake.
        case newHandshake
        /// The configured persistent keepalive interval passed without anything sent or received.
        case persistentKeepalive
        /// No new session for three times `rejectAfterTime`: erase every key.
        case zeroKeyMaterial

        var reason: StaticString {
            switch self {
            case .retransmitHandshake: "retransmit handshake"
            case .sendKeepalive: "send keepalive"
            case .newHandshake: "new handshake"
            case .persistentKeepalive: "persistent keepalive"
            case .zeroKeyMaterial: "zero key material"
            }
        }
    }

    public let peerIndex: PeerIndex
    public let persistentKeepalive: Duration?
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
    private var initiator: Noise.InitiatorState?
    private var handshakeAttemptStarted: Instant?
    private var lastInitiationSent: Instant?
    private var lastRollOver: Instant?
    private var greatestTimestamp: TAI64N?
    private var lastInitiationConsumed: Instant?
    private var cookie: (value: MAC, received: Instant)?
    /// MAC1 of our last handshake message and the index it was sent from: a cookie reply must name that index
    /// and be bound to that MAC1 (wireguard-go looks the receiver index up exactly).
    private var lastSentMAC1: (mac: MAC, index: SessionIndex)?
    private var timers: [Instant?]
    private var handshakeMessages: Deque<ByteBuffer> = []
    private var keepalivePending = false
    private var queuedPackets: Deque<ByteBuffer> = []
    private var events: Deque<TunnelEvent> = []
    private var lastNow: Instant
    /// `unixTime - now`, refreshed by ``handleTimeout(now:unixTime:)``, for handshake timestamps.
    private var unixOffset: Duration
    public private(set) var stats = TunnelStats()

    public init(
        local: LocalIdentity,
        remote: PublicKey,
        presharedKey: PresharedKey = .none,
        peerIndex: PeerIndex,
        persistentKeepalive: Duration? = nil,
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

    /// Whether a session can carry outgoing packets now.
    public func hasSession(now: Instant) -> Bool {
        self.currentSession(now: now) != nil
    }

    /// The local index of the session outgoing packets use.
    public var currentSessionIndex: SessionIndex? {
        self.currentSlot.flatMap { self.sessions[$0]?.localIndex }
    }

    private func currentSession(now: Instant) -> Session? {
        guard let slot = self.currentSlot, let session = self.sessions[slot], session.canSend(now: now) else {
            return nil
        }
        return session
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
        guard let session = self.currentSession(now: now) else {
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
    public mutating func encapsulate(_ packet: ByteBuffer, into output: inout ByteBuffer, now: Instant) -> EncapsulateResult {
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
        if let message = self.handshakeMessages.popFirst() {
            output.clear()
            output.writeImmutableBuffer(message)
            return true
        }
        guard let session = self.currentSession(now: now) else {
            self.keepalivePending = false
            return false
        }
        if let packet = self.queuedPackets.popFirst() {
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

    public mutating func pollEvent() -> TunnelEvent? {
        self.events.popFirst()
    }

    /// Starts a new handshake so that a fresh session replaces the current one, at most once per
    /// ``WireGuardConstants/rollOverDebounce`` (seed 004, #10102: a connection upsert rolls the session over).
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
            raw.storeBytes(of: UInt32(WireGuardConstants.typeTransportData).littleEndian, as: UInt32.self)
            raw.storeBytes(
                of: session.remoteIndex.littleEndian,
                toByteOffset: WireGuardConstants.transportReceiverIndexOffset,
                as: UInt32.self
            )
            raw.storeBytes(of: counter.littleEndian, toByteOffset: WireGuardConstants.transportCounterOffset, as: UInt64.self)
            let header = WireGuardConstants.transportHeaderLength
            session.sender.seal(
                counter: counter,
                UnsafeMutableRawBufferPointer(rebasing: raw[header..<header + padded]),
                tag: raw.baseAddress! + header + padded
            )
        }
        self.stats.packetsSent += 1
        self.stats.bytesSent += UInt64(length)
        self.anyAuthenticatedPacketSent(now: now)
        if length > 0 {
            // wireguard-go `timersDataSent`.
            if self.timers[TimerKind.newHandshake.rawValue] == nil {
                self.timers[TimerKind.newHandshake.rawValue] =
                    now + WireGuardConstants.keepaliveTimeout + WireGuardConstants.rekeyTimeout
            }
        }
    }

    // MARK: Incoming

    /// Processes one datagram from the peer in place. For ``DecapsulateResult/packet`` the readable bytes are then
    /// exactly the inner IP packet.
    public mutating func decapsulate(_ datagram: inout ByteBuffer, now: Instant) throws(WireGuardError) -> DecapsulateResult {
        self.advance(to: now)
        let header = try PacketHeader(parsing: datagram)
        switch header.type {
        case .transportData:
            return try self.openTransport(&datagram, index: header.receiverIndex!, now: now)
        case .handshakeInitiation:
            try self.consumeInitiation(datagram, now: now)
            return .handshake
        case .handshakeResponse:
            try self.consumeResponse(datagram, header: header, now: now)
            return .handshake
        case .cookieReply:
            try self.consumeCookieReply(datagram, index: header.receiverIndex!, now: now)
            return .handshake
        }
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
        guard !session.isExpired(now: now) else {
            throw .sessionExpired
        }
        let base = datagram.readerIndex
        let counter = datagram.getInteger(at: base + WireGuardConstants.transportCounterOffset, endianness: .little, as: UInt64.self)!
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
        guard authentic else {
            throw .decryptionFailed
        }
        guard session.replayWindow.accept(counter) else {
            throw .replayedCounter
        }
        if !session.confirmed {
            // §5.4.6: the initiator used the session, so the responder may now send on it too.
            session.confirmed = true
            if let current = self.currentSlot.flatMap({ self.sessions[$0] }), current.established > session.established {
                // An initiation of ours completed later; keep sending on that one.
            } else {
                self.currentSlot = slot
            }
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
        let packetLength = try Self.innerPacketLength(datagram, at: base + WireGuardConstants.transportHeaderLength, available: plaintextLength)
        datagram.moveReaderIndex(forwardBy: WireGuardConstants.transportHeaderLength)
        datagram.moveWriterIndex(to: datagram.readerIndex + packetLength)
        self.stats.packetsReceived += 1
        self.stats.bytesReceived += UInt64(packetLength)
        // wireguard-go `timersDataReceived`.
        if self.timers[TimerKind.sendKeepalive.rawValue] == nil {
            self.timers[TimerKind.sendKeepalive.rawValue] = now + WireGuardConstants.keepaliveTimeout
        }
        return .packet
    }

    /// The length an IPv4 or IPv6 header declares, which must fit in the plaintext (the rest is padding).
    private static func innerPacketLength(_ buffer: ByteBuffer, at offset: Int, available: Int) throws(WireGuardError) -> Int {
        let version = buffer.getInteger(at: offset, as: UInt8.self)! >> 4
        let length: Int
        switch version {
        case 4 where available >= 20:
            length = Int(buffer.getInteger(at: offset + 2, as: UInt16.self)!)
            guard length >= 20 else {
                throw .invalidInnerPacket
            }
        case 6 where available >= 40:
            length = 40 + Int(buffer.getInteger(at: offset + 4, as: UInt16.self)!)
        default:
            throw .invalidInnerPacket
        }
        guard length <= available else {
            throw .invalidInnerPacket
        }
        return length
    }

    private mutating func consumeInitiation(_ datagram: ByteBuffer, now: Instant) throws(WireGuardError) {
        let result: Result<Noise.ConsumedInitiation, WireGuardError> = datagram.withUnsafeReadableBytes { raw in
            guard Noise.checkMAC1(raw, mac1Offset: WireGuardConstants.initiationMAC1Offset, mac1Key: self.local.mac1Key) else {
                return .failure(.invalidMAC1)
            }
            do throws(WireGuardError) {
                let initiator = try Noise.decryptInitiator(raw, local: self.local)
                guard initiator.staticKey == self.remote.publicKey else {
                    return .failure(.wrongPeer)
                }
                guard let staticShared = self.staticShared else {
                    return .failure(.lowOrderPoint)
                }
                return .success(try Noise.finishInitiation(raw, initiator: initiator, staticShared: staticShared))
            } catch {
                return .failure(error)
            }
        }
        var initiation = try result.get()
        // §5.1: replay protection; wireguard-go additionally rate-limits initiations per peer.
        if let greatest = self.greatestTimestamp, initiation.timestamp <= greatest {
            initiation.initiator.setZero()
            throw .replayedTimestamp
        }
        if let last = self.lastInitiationConsumed, now - last < WireGuardConstants.handshakeInitiationRate {
            initiation.initiator.setZero()
            throw .handshakeFlood
        }
        self.greatestTimestamp = initiation.timestamp
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
                let mac1 = Noise.writeMACs(into: raw, mac1Offset: WireGuardConstants.responseMAC1Offset, mac1Key: self.remote.mac1Key, cookie: cookie)
                return .success((keys, mac1))
            } catch {
                return .failure(error)
            }
        }
        var (keys, mac1) = try response.get()
        self.lastSentMAC1 = (mac1, localIndex)
        self.install(Session(localIndex: localIndex, remoteIndex: remoteIndex, keys: &keys, isInitiator: false, now: now), slot: slot)
        self.handshakeMessages.append(message)
        self.anyAuthenticatedPacketSent(now: now)
        self.sessionDerived(localIndex, initiator: false, now: now)
    }

    private mutating func consumeResponse(_ datagram: ByteBuffer, header: PacketHeader, now: Instant) throws(WireGuardError) {
        guard let state = self.initiator, state.localIndex == header.receiverIndex else {
            throw .unexpectedMessage
        }
        let result: Result<Noise.SessionKeys, WireGuardError> = datagram.withUnsafeReadableBytes { raw in
            guard Noise.checkMAC1(raw, mac1Offset: WireGuardConstants.responseMAC1Offset, mac1Key: self.local.mac1Key) else {
                return .failure(.invalidMAC1)
            }
            do throws(WireGuardError) {
                return .success(try Noise.consumeResponse(raw, state: state, local: self.local, presharedKey: self.presharedKey))
            } catch {
                return .failure(error)
            }
        }
        var keys = try result.get()
        self.initiator?.setZero()
        self.initiator = nil
        self.handshakeAttemptStarted = nil
        self.timers[TimerKind.retransmitHandshake.rawValue] = nil
        let slot = Int(state.localIndex.slot)
        self.install(
            Session(localIndex: state.localIndex, remoteIndex: header.senderIndex!, keys: &keys, isInitiator: true, now: now),
            slot: slot
        )
        self.currentSlot = slot
        self.anyAuthenticatedPacketReceived(now: now)
        self.sessionDerived(state.localIndex, initiator: true, now: now)
        if self.queuedPackets.isEmpty {
            // §5.4.6: the responder waits for our first transport message before sending; without data to send,
            // a keepalive confirms the session (wireguard-go does the same).
            self.keepalivePending = true
        }
    }

    private mutating func consumeCookieReply(_ datagram: ByteBuffer, index: SessionIndex, now: Instant) throws(WireGuardError) {
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
                            rebasing: raw[WireGuardConstants.cookieNonceOffset..<WireGuardConstants.cookieEncryptedOffset]
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
        self.logger.debug("Received cookie reply: the peer is under load")
    }

    // MARK: Handshakes and sessions

    /// §6.4: starts (or, for a retransmission, restarts) our handshake: a new ephemeral key and a new initiation.
    private mutating func sendInitiation(now: Instant, isRetry: Bool) {
        if !isRetry {
            if self.initiator != nil, let last = self.lastInitiationSent, now - last < WireGuardConstants.rekeyTimeout {
                return
            }
            self.handshakeAttemptStarted = now
        }
        guard let staticShared = self.staticShared else {
            self.logger.debug("Not initiating a handshake: the peer's public key is a low-order point")
            return
        }
        let slot = self.allocateSlot()
        let localIndex = SessionIndex(peer: self.peerIndex, slot: UInt8(slot))
        let ephemeral = StaticSecret(self.rng.nextBytes32())
        let timestamp = TAI64N(unixTime: self.unixOffset + (now - .zero))
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
        self.initiator?.setZero()
        self.initiator = state
        self.lastSentMAC1 = (mac1, localIndex)
        self.lastInitiationSent = now
        self.handshakeMessages.append(message)
        self.stats.handshakesInitiated += 1
        let jitter = Duration.nanoseconds(
            Int64(self.rng.next() % UInt64(WireGuardConstants.rekeyTimeoutJitterMaximum.nanoseconds))
        )
        self.timers[TimerKind.retransmitHandshake.rawValue] = now + WireGuardConstants.rekeyTimeout + jitter
        self.anyAuthenticatedPacketSent(now: now)
        self.logger.debug("Sent handshake initiation", metadata: ["session.index": "\(localIndex)"])
    }

    /// The next slot for a new session or initiation, never the current session's or the initiation in flight's.
    private mutating func allocateSlot() -> Int {
        while true {
            let slot = self.nextSlot
            self.nextSlot = (self.nextSlot + 1) % WireGuardConstants.sessionSlots
            if slot != self.currentSlot && Int(self.initiator?.localIndex.slot ?? .max) != slot {
                return slot
            }
        }
    }

    private mutating func install(_ session: Session, slot: Int) {
        self.sessions[slot] = session
        if self.currentSlot == slot {
            self.currentSlot = nil
        }
    }

    /// wireguard-go `timersSessionDerived` plus bookkeeping.
    private mutating func sessionDerived(_ index: SessionIndex, initiator: Bool, now: Instant) {
        self.timers[TimerKind.zeroKeyMaterial.rawValue] = now + WireGuardConstants.zeroKeyMaterialAfter
        self.stats.handshakesCompleted += 1
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

    private mutating func advance(to now: Instant) {
        if now > self.lastNow {
            self.lastNow = now
        }
    }

    /// wireguard-go `timersAnyAuthenticatedPacketSent` and `…Traversal`.
    private mutating func anyAuthenticatedPacketSent(now: Instant) {
        self.timers[TimerKind.sendKeepalive.rawValue] = nil
        self.resetPersistentKeepalive(now: now)
    }

    /// wireguard-go `timersAnyAuthenticatedPacketReceived` and `…Traversal`.
    private mutating func anyAuthenticatedPacketReceived(now: Instant) {
        self.timers[TimerKind.newHandshake.rawValue] = nil
        self.resetPersistentKeepalive(now: now)
    }

    private mutating func resetPersistentKeepalive(now: Instant) {
        if let interval = self.persistentKeepalive {
            self.timers[TimerKind.persistentKeepalive.rawValue] = now + interval
        }
    }

    /// The earliest timer, never earlier than the last `now` seen.
    public func pollTimeout() -> (deadline: Instant, reason: StaticString)? {
        var earliest: (deadline: Instant, reason: StaticString)?
        for kind in TimerKind.allCases {
            if let deadline = self.timers[kind.rawValue], deadline < earliest?.deadline ?? .init(nanoseconds: .max) {
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
            guard let deadline = self.timers[kind.rawValue], deadline <= now else {
                continue
            }
            self.timers[kind.rawValue] = nil
            switch kind {
            case .retransmitHandshake:
                self.retransmitHandshake(now: now)
            case .sendKeepalive:
                self.sendKeepalive(now: now)
            case .newHandshake:
                self.logger.debug("No packet received after sending data: starting a new handshake")
                self.sendInitiation(now: now, isRetry: false)
            case .persistentKeepalive:
                self.sendKeepalive(now: now)
            case .zeroKeyMaterial:
                self.eraseKeys()
            }
        }
    }

    private mutating func retransmitHandshake(now: Instant) {
        guard self.initiator != nil else {
            return
        }
        if let started = self.handshakeAttemptStarted, now - started >= WireGuardConstants.rekeyAttemptTime {
            self.initiator?.setZero()
            self.initiator = nil
            self.handshakeAttemptStarted = nil
            self.stats.packetsDroppedFromQueue += UInt64(self.queuedPackets.count)
            self.queuedPackets.removeAll()
            self.events.append(.handshakeTimedOut)
            self.logger.debug("Handshake timed out")
            if self.sessions.allSatisfy({ $0 == nil }), self.timers[TimerKind.zeroKeyMaterial.rawValue] == nil {
                self.timers[TimerKind.zeroKeyMaterial.rawValue] = now + WireGuardConstants.zeroKeyMaterialAfter
            }
            return
        }
        self.sendInitiation(now: now, isRetry: true)
    }

    /// A keepalive on the current session, or, without one, a handshake (wireguard-go `SendKeepalive` stages an
    /// empty packet, which triggers one).
    private mutating func sendKeepalive(now: Instant) {
        if self.currentSession(now: now) != nil {
            self.keepalivePending = true
        } else {
            self.sendInitiation(now: now, isRetry: false)
        }
    }

    /// §6.3 (boringtun `ConnectionExpired`): no usable session for a long time, so every key goes.
    private mutating func eraseKeys() {
        for slot in self.sessions.indices {
            self.sessions[slot] = nil
        }
        self.currentSlot = nil
        self.initiator?.setZero()
        self.initiator = nil
        self.handshakeAttemptStarted = nil
        self.timers[TimerKind.retransmitHandshake.rawValue] = nil
        self.queuedPackets.removeAll()
        self.keepalivePending = false
        self.events.append(.connectionExpired)
        self.logger.debug("Connection expired: all session keys erased")
    }
}
