import FirezoneCrypto
import FirezoneTime
import Logging
import NIOCore

/// The tunnels of one node's peers and the per-datagram routing between them, without IO: rate limiter, then the
/// tunnel the receiver index (or, for an initiation, the initiator's static key) names, then decryption, then the
/// allowed-IPs check, then the peer's endpoint (roaming, §2).
///
/// Generic over the caller's peer ID and endpoint types, as snownet's `Node` is. Peers live in an array in the
/// order they were added, so that iteration (timers) is deterministic; dictionaries only answer lookups.
public struct WireGuardRouter<PeerID: Hashable & Sendable, Endpoint: Hashable & Sendable, PeerAllowedIPs: AllowedIPs> {
    private struct Peer {
        let id: PeerID
        var tunnel: WireGuardTunnel
        var endpoint: Endpoint?
        let allowedIPs: PeerAllowedIPs
    }

    private let identity: LocalIdentity
    private var limiter: HandshakeRateLimiter
    private var peerIndices: PeerIndexAllocator
    private var peers: [Peer] = []
    private var peerByID: [PeerID: Int] = [:]
    private var peerByIndex = PeerIndexTable()
    private var peerByKey: [PublicKey: Int] = [:]
    public private(set) var stats = WireGuardRouterStats()

    /// `limiterSeed` keys the cookie secrets; `indexSeed` scrambles the peer indices (``PeerIndexAllocator``).
    public init(
        identity: LocalIdentity,
        handshakeRateLimit: Int = WireGuardConstants.handshakeRateLimit,
        limiterSeed: Bytes32,
        indexSeed: UInt64,
        now: Instant
    ) {
        self.identity = identity
        self.limiter = HandshakeRateLimiter(identity: identity, limit: handshakeRateLimit, seed: limiterSeed, now: now)
        self.peerIndices = PeerIndexAllocator(seed: indexSeed)
    }

    public var peerIDs: [PeerID] {
        self.peers.map(\.id)
    }

    /// Adds a peer with a new tunnel; the tunnel's peer index comes from ``PeerIndexAllocator``.
    public mutating func addPeer(
        _ id: PeerID,
        publicKey: PublicKey,
        presharedKey: PresharedKey = .none,
        persistentKeepalive: Duration? = nil,
        handshakeTimeout: Duration = WireGuardConstants.rekeyAttemptTime,
        endpoint: Endpoint?,
        allowedIPs: PeerAllowedIPs,
        seed: Bytes32,
        logger: Logger,
        now: Instant,
        unixTime: Duration
    ) throws(WireGuardRouterError) -> PeerIndex {
        guard self.peerByID[id] == nil, self.peerByKey[publicKey] == nil else {
            throw .duplicatePeer
        }
        guard let index = self.peerIndices.next() else {
            throw .peerIndicesExhausted
        }
        let tunnel = WireGuardTunnel(
            local: self.identity,
            remote: publicKey,
            presharedKey: presharedKey,
            peerIndex: index,
            persistentKeepalive: persistentKeepalive,
            handshakeTimeout: handshakeTimeout,
            seed: seed,
            logger: logger,
            now: now,
            unixTime: unixTime
        )
        let position = self.peers.count
        self.peers.append(Peer(id: id, tunnel: tunnel, endpoint: endpoint, allowedIPs: allowedIPs))
        self.peerByID[id] = position
        self.peerByIndex[index] = position
        self.peerByKey[publicKey] = position
        return index
    }

    /// Forgets `peer` and its tunnel; its index and key then route nothing. The last peer takes the removed one's
    /// place in ``peerIDs``. False for an unknown peer.
    @discardableResult
    public mutating func removePeer(_ id: PeerID) -> Bool {
        guard let position = self.peerByID.removeValue(forKey: id) else {
            return false
        }
        let removed = self.peers[position]
        self.peerByIndex.removeValue(forKey: removed.tunnel.peerIndex)
        self.peerByKey.removeValue(forKey: removed.tunnel.remotePublicKey)
        let last = self.peers.count - 1
        if position != last {
            let moved = self.peers[last]
            self.peers[position] = moved
            self.peerByID[moved.id] = position
            self.peerByIndex[moved.tunnel.peerIndex] = position
            self.peerByKey[moved.tunnel.remotePublicKey] = position
        }
        self.peers.removeLast()
        return true
    }

    /// The peer whose static public key is `key`.
    public func peer(withKey key: PublicKey) -> PeerID? {
        self.peerByKey[key].map { self.peers[$0].id }
    }

    /// Where datagrams for `peer` go: configured, or learned from its latest authenticated datagram.
    public func endpoint(of peer: PeerID) -> Endpoint? {
        self.peerByID[peer].flatMap { self.peers[$0].endpoint }
    }

    /// Whether `peer`'s tunnel has a session that can carry packets.
    public func hasSession(_ peer: PeerID) -> Bool {
        self.peerByID[peer].map { self.peers[$0].tunnel.hasSession } ?? false
    }

    // MARK: Incoming

    /// Routes one datagram from `source` to its peer's tunnel and decrypts it in place.
    ///
    /// `cookieSource` is `source` as the cookie mechanism binds it (§5.4.7). For
    /// ``WireGuardRouterResult/sendCookieReply`` the reply to send back to `source` is in `reply` (cleared first).
    /// Every rejection is thrown and counted in ``stats``.
    public mutating func decapsulate(
        _ datagram: inout ByteBuffer,
        from source: Endpoint,
        cookieSource: CookieSource,
        reply: inout ByteBuffer,
        now: Instant
    ) throws(WireGuardRouterError) -> WireGuardRouterResult<PeerID> {
        do throws(WireGuardRouterError) {
            return try self.route(&datagram, from: source, cookieSource: cookieSource, reply: &reply, now: now)
        } catch {
            switch error {
            case .invalid: self.stats.invalidDatagrams += 1
            case .unknownPeer: self.stats.unknownPeers += 1
            case .disallowedSource: self.stats.packetsFromDisallowedSource += 1
            case .duplicatePeer, .peerIndicesExhausted: break
            }
            throw error
        }
    }

    private mutating func route(
        _ datagram: inout ByteBuffer,
        from source: Endpoint,
        cookieSource: CookieSource,
        reply: inout ByteBuffer,
        now: Instant
    ) throws(WireGuardRouterError) -> WireGuardRouterResult<PeerID> {
        let header: PacketHeader
        do throws(WireGuardError) {
            header = try PacketHeader(parsing: datagram)
            // Only handshake messages are limited; data does not pay for the limiter parsing its header again.
            if header.isHandshake,
                try self.limiter.check(datagram, from: cookieSource, reply: &reply, now: now) == .sendCookieReply
            {
                self.stats.cookieRepliesSent += 1
                return .sendCookieReply
            }
        } catch {
            throw .invalid(error)
        }
        let position: Int
        let result: DecapsulateResult
        switch header {
        case .handshakeInitiation:
            var initiation: DecryptedInitiation
            do throws(WireGuardError) {
                initiation = try self.identity.decryptInitiation(datagram)
            } catch {
                throw .invalid(error)
            }
            guard let known = self.peerByKey[initiation.initiatorKey] else {
                initiation.setZero()
                throw .unknownPeer
            }
            position = known
            do throws(WireGuardError) {
                result = try self.peers[position].tunnel.decapsulate(datagram, initiation: initiation, now: now)
            } catch {
                throw .invalid(error)
            }
        case .handshakeResponse(_, let receiverIndex), .cookieReply(let receiverIndex),
            .transportData(let receiverIndex):
            guard let known = self.peerByIndex[receiverIndex.peer] else {
                throw .unknownPeer
            }
            position = known
            do throws(WireGuardError) {
                result = try self.peers[position].tunnel.decapsulate(&datagram, header: header, now: now)
            } catch {
                throw .invalid(error)
            }
        }
        let id = self.peers[position].id
        switch result {
        case .cookieReply:
            // Not authenticated by the peer's key: the endpoint stays (§5.4.7).
            return .handshake(id)
        case .handshake:
            self.peers[position].endpoint = source
            return .handshake(id)
        case .keepalive:
            self.peers[position].endpoint = source
            return .keepalive(id)
        case .packet:
            // Authenticated, so the peer is where this came from (§2, roaming), whatever the inner source says.
            self.peers[position].endpoint = source
            guard self.peers[position].allowedIPs.allowsSource(of: datagram) else {
                throw .disallowedSource
            }
            return .packet(id)
        }
    }

    // MARK: Outgoing

    /// Encrypts the IP packet in `packet` for `peer` in place; see ``WireGuardTunnel/encapsulate(_:now:)``. Nil for
    /// an unknown peer.
    public mutating func encapsulate(_ packet: inout ByteBuffer, for peer: PeerID, now: Instant) -> EncapsulateResult? {
        guard let position = self.peerByID[peer] else {
            return nil
        }
        return self.peers[position].tunnel.encapsulate(&packet, now: now)
    }

    /// The next datagram `peer`'s tunnel has to send; see ``WireGuardTunnel/pollTransmit(into:now:)``.
    public mutating func pollTransmit(for peer: PeerID, into output: inout ByteBuffer, now: Instant) -> Bool {
        guard let position = self.peerByID[peer] else {
            return false
        }
        return self.peers[position].tunnel.pollTransmit(into: &output, now: now)
    }

    /// `peer`'s tunnel as it stands, for queries (its sessions, its stats).
    public func tunnel(of peer: PeerID) -> WireGuardTunnel? {
        self.peerByID[peer].map { self.peers[$0].tunnel }
    }

    /// Puts `peer`'s tunnel in or out of low power (``WireGuardTunnel/setLowPower(_:)``).
    public mutating func setLowPower(_ on: Bool, for peer: PeerID) {
        guard let position = self.peerByID[peer] else {
            return
        }
        self.peers[position].tunnel.setLowPower(on)
    }

    /// Starts a handshake for a fresh session with `peer`, debounced; see ``WireGuardTunnel/rollOverSession(now:)``.
    public mutating func rollOverSession(for peer: PeerID, now: Instant) {
        guard let position = self.peerByID[peer] else {
            return
        }
        self.peers[position].tunnel.rollOverSession(now: now)
    }

    /// The next event of `peer`'s tunnel.
    public mutating func pollEvent(for peer: PeerID) -> WireGuardTunnelEvent? {
        guard let position = self.peerByID[peer] else {
            return nil
        }
        return self.peers[position].tunnel.pollEvent()
    }

    /// The next event of any tunnel, with its peer, in the order peers were added.
    public mutating func pollEvent() -> (peer: PeerID, event: WireGuardTunnelEvent)? {
        for position in self.peers.indices {
            if let event = self.peers[position].tunnel.pollEvent() {
                return (self.peers[position].id, event)
            }
        }
        return nil
    }

    // MARK: Timers

    /// The earliest timer of any tunnel.
    public func pollTimeout() -> (deadline: Instant, reason: StaticString)? {
        var earliest: (deadline: Instant, reason: StaticString)?
        for peer in self.peers {
            if let timeout = peer.tunnel.pollTimeout(),
                timeout.deadline < earliest?.deadline ?? Instant(nanoseconds: .max)
            {
                earliest = timeout
            }
        }
        return earliest
    }

    /// The earliest timer of `peer`'s tunnel: a node with many peers keeps its own queue of deadlines rather than
    /// asking every tunnel on every tick.
    public func pollTimeout(for peer: PeerID) -> (deadline: Instant, reason: StaticString)? {
        self.peerByID[peer].flatMap { self.peers[$0].tunnel.pollTimeout() }
    }

    /// Fires the due timers of `peer`'s tunnel.
    public mutating func handleTimeout(for peer: PeerID, now: Instant, unixTime: Duration) {
        guard let position = self.peerByID[peer] else {
            return
        }
        self.peers[position].tunnel.handleTimeout(now: now, unixTime: unixTime)
    }

    /// Fires the due timers of every tunnel; returns the peers whose tunnels did, whose ``pollTransmit(for:into:now:)``
    /// the caller drains next.
    public mutating func handleTimeout(now: Instant, unixTime: Duration, fired: inout [PeerID]) {
        fired.removeAll(keepingCapacity: true)
        for position in self.peers.indices {
            if let deadline = self.peers[position].tunnel.pollTimeout()?.deadline, deadline <= now {
                self.peers[position].tunnel.handleTimeout(now: now, unixTime: unixTime)
                fired.append(self.peers[position].id)
            }
        }
    }
}
