import DequeModule
import FirezoneCrypto
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import STUN

/// A TURN allocation on one relay (RFC 8656), sans-IO: time, datagrams and the seed of its transaction ids come in,
/// datagrams and address changes are polled out.
///
/// The life of one, as Firezone's snownet does it at Firezone 685acdac3a (`rust/connlib/snownet/src/allocation.rs`,
/// Firezone's rust/connlib/snownet/src/allocation.rs):
/// 1. An unauthenticated BINDING (RFC 8489 §3) to each of the server's addresses; every success yields a host and
///    a server-reflexive address, the first one picks the *active socket* all further requests use.
/// 2. An ALLOCATE on the active socket with the long-term credential mechanism (RFC 8489 §9.2): the first attempt
///    carries no credentials (§9.2.3.1), the server's 401 brings REALM and NONCE, the retry is signed.
/// 3. A REFRESH at half the granted lifetime; a BINDING every 25 s keeps the NAT mapping open.
/// 4. CHANNEL-BINDs (RFC 8656 §11) for peers, on demand or ahead of time, buffered while the allocation is made.
/// 5. New credentials for the same server (``updateCredentials(username:password:realm:now:)``): the allocation is
///    deleted with the credentials that made it, then made again with the new ones.
///
/// Every request is retransmitted at 1, 2.5 and 4.75 s and abandoned at 8.125 s; one on the active socket's family
/// that runs out means the relay is gone: the active socket is cleared and the allocation invalidated.
public struct Allocation {
    public let server: RelaySocket

    private var username: String
    private var password: String
    /// The realm we authenticate in. Empty: the first 401's REALM is adopted (RFC 8489 §9.2.3.2), for servers
    /// whose realm the caller does not know.
    private var realm: String
    /// MD5(username:realm:password), RFC 8489 §9.2.2.
    private var key: [UInt8]
    private var nonce: String?
    /// The credentials the server's allocation was made with, after ``updateCredentials(username:password:realm:now:)``
    /// replaced them and until that allocation is deleted: RFC 8656 §5 has the server refuse (441) a REFRESH signed
    /// by any other username, so the deletion (REFRESH with LIFETIME 0, §7.3) is signed with these.
    private var releasing: (username: String, realm: String, key: [UInt8])?
    /// False once the server refused a request that carried a nonce: the credentials are wrong.
    private var hasCredentials = true
    /// The server did not understand a request of ours (420): nothing will get better.
    private var protocolFailure = false
    private let software: String
    private var rng: KeyStream
    private let logger: Logger

    /// The server address (one of `server`'s) whose BINDING answered first.
    public private(set) var activeSocket: IPSocketAddress?
    private var nextKeepalive: Instant?

    private var host = FamilyAddresses()
    private var serverReflexive = FamilyAddresses()
    private var relayed = FamilyAddresses()
    /// When the last ALLOCATE or REFRESH succeeded and the lifetime it granted.
    private var lifetime: (grantedAt: Instant, duration: Duration)?
    /// After a refused REFRESH, the next waits this long: refreshing at once would repeat the refusal at the pace
    /// of the round trip.
    private var refreshNotBefore: Instant?
    /// When to send ALLOCATE again after the server refused to delete the allocation its 437 named.
    private var reallocateAt: Instant?

    /// Outstanding requests in the order they were sent; at most ``TURNClientConstants/maximumRequestsInFlight``.
    private var requests: [TURNRequest] = []
    private var channels = ChannelBindings()
    private var bufferedBinds: Deque<IPSocketAddress> = []
    private var transmits: Deque<AllocationTransmit> = []
    private var events: Deque<AllocationEvent> = []

    /// EWMA of request round trips, 7/8 old + 1/8 new (Firezone's rust/connlib/snownet/src/allocation.rs, RFC 6298 §2's α = 1/8); nil before the
    /// first unambiguous sample.
    public private(set) var smoothedRTT: Duration?
    public private(set) var stats = AllocationStats()

    /// Starts with a BINDING to each of `server`'s addresses.
    ///
    /// `seed` seeds the transaction ids; the caller draws it from a cryptographic source (RFC 8489 §6). `realm` is
    /// `firezone` for Firezone's relays; empty adopts the server's.
    public init(
        server: RelaySocket,
        username: String,
        password: String,
        realm: String,
        software: String,
        seed: UInt64,
        now: Instant,
        logger: Logger
    ) {
        self.server = server
        self.username = username
        self.password = password
        self.realm = realm
        self.key = LongTermCredentials.key(username: username, realm: realm, password: password)
        self.software = software
        self.rng = KeyStream(seed: seed)
        var logger = logger
        logger[metadataKey: "relay"] = "\(server)"
        self.logger = logger
        self.sendBindings(now: now)
    }

    // MARK: Addresses

    /// The local sockets a BINDING response arrived on, IPv4 first.
    public var hostAddresses: [IPSocketAddress] {
        self.host.all
    }

    /// The addresses the server saw us at, IPv4 first.
    public var serverReflexiveAddresses: [IPSocketAddress] {
        self.serverReflexive.all
    }

    /// The relayed address of `family`, if the allocation has one (per packet: builds nothing).
    public func relayedAddress(of family: IPVersion) -> IPSocketAddress? {
        self.relayed[family]
    }

    /// Whether `address` is one of the allocation's relayed addresses (per packet: builds nothing).
    public func isRelayedAddress(_ address: IPSocketAddress) -> Bool {
        self.relayed[address.address.version] == address
    }

    /// The allocation's relayed addresses, IPv4 first.
    public var relayedAddresses: [IPSocketAddress] {
        self.relayed.all
    }

    /// Whether the caller may drop this allocation (Firezone's rust/connlib/snownet/src/allocation.rs): the server rejected our protocol; or,
    /// with nothing left to poll or wait for, no server address answers or the credentials were refused.
    public var canBeFreed: Bool {
        if self.protocolFailure {
            return true
        }
        let pendingWork = !self.events.isEmpty || !self.transmits.isEmpty || !self.requests.isEmpty
        return !pendingWork && (self.activeSocket == nil || !self.hasCredentials)
    }

    /// Whether a datagram from `source` is this allocation's server.
    public func isServer(_ source: IPSocketAddress) -> Bool {
        self.server.addresses.contains(source)
    }

    private var hasAllocation: Bool {
        !self.relayed.isEmpty
    }

    // MARK: Channels

    /// The peer whose data arrived on `channel`, or nil when the channel is not bound (counted). Marks the channel as
    /// having received data, which keeps it refreshed.
    public mutating func peer(forChannel channel: ChannelNumber, now: Instant) -> IPSocketAddress? {
        guard let peer = self.channels.receive(on: channel) else {
            self.stats.unboundChannelData += 1
            return nil
        }
        return peer
    }

    /// Whether ``channelForSending(to:now:)`` would return `channel` for `peer`: found by number, so that a caller
    /// that remembers its peer's channel skips the lookup by address.
    public func canSend(on channel: ChannelNumber, to peer: IPSocketAddress, now: Instant) -> Bool {
        self.activeSocket != nil && self.channels.isUsable(channel, to: peer, now: now)
    }

    /// The channel to send to `peer` on, bound or in flight (Firezone #10062: by the time the data arrives the bind
    /// most likely has); nil when there is none yet or no active socket to send from. Then a CHANNEL-BIND starts
    /// (or waits for the allocation) and the caller drops the packet.
    public mutating func channelForSending(to peer: IPSocketAddress, now: Instant) -> ChannelNumber? {
        if self.activeSocket != nil, let channel = self.channels.usableChannel(to: peer, now: now) {
            return channel
        }
        self.bindChannel(to: peer, now: now)
        return nil
    }

    /// Binds a channel to `peer` ahead of data (Firezone's rust/connlib/snownet/src/node.rs: for remote server-reflexive, relayed and
    /// peer-reflexive candidates); nothing when one is usable or being bound.
    public mutating func bindChannel(to peer: IPSocketAddress, now: Instant) {
        if self.isSuspended {
            self.logger.debug("allocation suspended, not binding a channel", metadata: ["peer": "\(peer)"])
            return
        }
        if self.channels.usableChannel(to: peer, now: now) != nil || self.channels.bindInFlight(to: peer)
            || self.bufferedBinds.contains(peer)
        {
            return
        }
        guard self.hasAllocation else {
            if self.bufferedBinds.count == TURNClientConstants.maximumBufferedBinds {
                self.bufferedBinds.removeFirst()
                self.stats.bufferedBindsDropped += 1
            }
            self.bufferedBinds.append(peer)
            return
        }
        guard self.relayed[peer.address.version] != nil else {
            self.logger.debug("no relayed address of the peer's family", metadata: ["peer": "\(peer)"])
            self.stats.channelBindsRefused += 1
            return
        }
        guard self.requests.count < TURNClientConstants.maximumRequestsInFlight else {
            self.stats.requestsRefused += 1
            return
        }
        guard let number = self.channels.startBind(to: peer, now: now) else {
            self.logger.warning("every channel number is in use", metadata: ["peer": "\(peer)"])
            self.stats.channelBindsRefused += 1
            return
        }
        self.logger.debug("binding channel", metadata: ["channel": "\(number)", "peer": "\(peer)"])
        if !self.sendAuthenticated(.channelBind(number, peer: peer), now: now) {
            self.channels.forget(number)
        }
    }

    // MARK: Credentials

    /// Takes new credentials for the same server, as the portal hands out on every `init`.
    ///
    /// Firezone replaces the whole allocation (rust/libs/connlib/snownet/src/node/allocations.rs `upsert`), and its
    /// allocation.rs answers the 437 that the new ALLOCATE from the same 5-tuple draws by deleting the allocation with
    /// the new credentials, which Firezone's relay accepts. RFC 8656 §5 has a relay refuse that (441 Wrong
    /// Credentials), which would leave us without a relayed address until the old allocation expires. So an
    /// allocation the server may hold is deleted with the credentials that made it, and its deletion confirmed (or a
    /// 437: there is none) allocates with the new ones: one round trip more than a plain ALLOCATE.
    public mutating func updateCredentials(username: String, password: String, realm: String, now: Instant) {
        guard username != self.username || password != self.password || !(realm.isEmpty || realm == self.realm) else {
            return
        }
        let serverMayHoldAllocation =
            self.hasAllocation || self.requests.contains { $0.kind == .allocate && $0.nonce != nil }
        if serverMayHoldAllocation && self.releasing == nil {
            self.releasing = (self.username, self.realm, self.key)
        }
        // An empty realm keeps the one adopted from the server's challenge.
        let realm = realm.isEmpty ? self.realm : realm
        self.username = username
        self.password = password
        self.realm = realm
        self.key = LongTermCredentials.key(username: username, realm: realm, password: password)
        self.hasCredentials = true
        guard self.releasing != nil else {
            // No allocation to delete: one that waits (refused credentials, a refused deletion) allocates now, and
            // one that gave up starts over, as the Node would otherwise free it.
            if self.activeSocket != nil && !self.hasAllocation && !self.inFlight(.allocate) {
                self.reallocateAt = nil
                self.sendAuthenticated(.allocate, now: now)
            } else if self.isSuspended {
                self.nextKeepalive = nil
                self.sendBindings(now: now)
            }
            return
        }
        self.logger.info("credentials changed, deleting the allocation made with the previous ones")
        self.invalidateAllocation()
        self.reallocateAt = nil
        // Without an active socket, the BINDING that picks one allocates; its 437 deletes with `releasing`.
        self.sendAuthenticated(.refresh(lifetime: 0), now: now)
    }

    /// Who signs `kind`: the deletion of an allocation made with credentials since replaced is signed with those.
    private func signer(of kind: TURNRequest.Kind) -> (username: String, realm: String, key: [UInt8]) {
        if kind == .refresh(lifetime: 0), let releasing = self.releasing {
            return releasing
        }
        return (self.username, self.realm, self.key)
    }

    // MARK: Timers

    /// A liveness probe after the relay list changed (Firezone's rust/connlib/snownet/src/allocation.rs): one REFRESH with a single 1 s attempt, or,
    /// when the allocation gave up, a restart from BINDING.
    public mutating func refresh(now: Instant) {
        if !self.hasAllocation && self.inFlight(.allocate) {
            return
        }
        if self.isSuspended {
            self.logger.debug("restarting the allocation")
            self.activeSocket = nil
            self.nextKeepalive = nil
            self.sendBindings(now: now)
            return
        }
        if self.requests.contains(where: { if case .refresh = $0.kind { true } else { false } }) {
            return
        }
        let probe = RequestBackoff(
            start: now,
            interval: TURNClientConstants.probeBudget,
            budget: TURNClientConstants.probeBudget
        )
        self.sendAuthenticated(.refresh(lifetime: nil), backoff: probe, now: now)
    }

    public mutating func handleTimeout(now: Instant) {
        if let lifetime = self.lifetime, now >= lifetime.grantedAt + lifetime.duration {
            self.logger.info("allocation expired")
            self.invalidateAllocation()
        }
        if self.hasAllocation, let activeSocket = self.activeSocket, let keepalive = self.nextKeepalive,
            now >= keepalive
        {
            self.nextKeepalive = now + TURNClientConstants.keepaliveInterval
            self.sendBinding(to: activeSocket, now: now)
        }
        if let reallocateAt = self.reallocateAt, now >= reallocateAt {
            self.reallocateAt = nil
            self.sendAuthenticated(.allocate, now: now)
        }
        while let index = self.requests.firstIndex(where: { $0.backoff.nextTrigger <= now }) {
            self.retransmit(self.requests.remove(at: index), now: now)
        }
        if let refreshAt = self.refreshDue, now >= refreshAt {
            self.logger.debug("allocation due for a refresh")
            if !self.sendAuthenticated(.refresh(lifetime: nil), now: now) {
                self.refreshNotBefore = now + TURNClientConstants.requestTimeout
            }
        }
        for (number, peer) in self.channels.dueForRefresh(now: now) {
            guard self.requests.count < TURNClientConstants.maximumRequestsInFlight else {
                self.stats.requestsRefused += 1
                break
            }
            self.logger.debug("channel due for a refresh", metadata: ["channel": "\(number)", "peer": "\(peer)"])
            self.channels.startRefresh(number)
            if !self.sendAuthenticated(.channelBind(number, peer: peer), now: now) {
                self.channels.bindAbandoned(number)
            }
        }
    }

    /// The earliest of: a retransmission, the keep-alive, the refresh and the expiry of the allocation.
    ///
    /// Channel refreshes have no deadline of their own: the keep-alive fires every 25 s, well inside the five
    /// minutes between a channel's refresh age and its expiry.
    public func pollTimeout() -> Instant? {
        var earliest = self.requests.lazy.map(\.backoff.nextTrigger).min()
        func consider(_ instant: Instant?) {
            if let instant, earliest.map({ instant < $0 }) ?? true {
                earliest = instant
            }
        }
        consider(self.refreshDue)
        consider(self.reallocateAt)
        if self.hasAllocation {
            consider(self.nextKeepalive)
        }
        if let lifetime = self.lifetime {
            consider(lifetime.grantedAt + lifetime.duration)
        }
        return earliest
    }

    public mutating func pollTransmit() -> AllocationTransmit? {
        self.transmits.popFirst()
    }

    public mutating func pollEvent() -> AllocationEvent? {
        self.events.popFirst()
    }

    /// When the allocation is due for a refresh: half its lifetime (RFC 8656 §7 leaves the moment to the client;
    /// Firezone refreshes at half), unless a refresh is on its way.
    private var refreshDue: Instant? {
        guard let lifetime = self.lifetime,
            !self.requests.contains(where: { if case .refresh = $0.kind { true } else { false } })
        else {
            return nil
        }
        let half = lifetime.grantedAt + lifetime.duration / 2
        return self.refreshNotBefore.map { max($0, half) } ?? half
    }

    /// No allocation and nothing on its way: the allocation gave up until ``refresh(now:)`` restarts it.
    private var isSuspended: Bool {
        !self.hasAllocation && self.requests.isEmpty && self.transmits.isEmpty
    }

    private func inFlight(_ kind: TURNRequest.Kind) -> Bool {
        self.requests.contains { $0.kind == kind }
    }

    // MARK: Responses

    /// A STUN message from the server, received on our local socket `local`. False when it is not ours (not a
    /// response, not from the server, or an unknown transaction), so that the caller can count a drop.
    public mutating func handleSTUN(
        _ message: STUNMessage,
        from source: IPSocketAddress,
        local: IPSocketAddress,
        now: Instant
    ) -> Bool {
        guard self.isServer(source),
            message.type.class == .successResponse || message.type.class == .errorResponse,
            let index = self.requests.firstIndex(where: { $0.transactionID == message.transactionID })
        else {
            return false
        }
        let request = self.requests[index]
        guard message.type.method == request.kind.method else {
            self.stats.malformedResponses += 1
            return true
        }
        if request.kind != .binding && !self.isAuthentic(message, to: request.kind) {
            // RFC 8489 §9.2.5: discarded as if never received; the request keeps retransmitting, so a forged
            // response changes nothing.
            self.logger.warning("response failed its integrity check", metadata: ["method": "\(message.type.method)"])
            self.stats.integrityFailures += 1
            return true
        }
        self.requests.remove(at: index)
        if !(request.kind == .binding && request.retransmitted) {
            self.sampleRTT(now - request.sentAt)
        }
        if message.type.class == .errorResponse {
            self.handleError(message.errorCode, of: request, response: message, now: now)
        } else {
            self.handleSuccess(message, of: request, local: local, now: now)
        }
        return true
    }

    /// Responses to authenticated methods carry a valid MESSAGE-INTEGRITY. A 401 or 438 is a challenge (RFC 8489
    /// §9.2.5) that a server cannot sign for a request it could not authenticate, so it is taken unsigned; the
    /// transaction id, which only the server has seen, is what ties it to our request.
    private func isAuthentic(_ message: STUNMessage, to kind: TURNRequest.Kind) -> Bool {
        if message.type.class == .errorResponse, let code = message.errorCode?.code,
            code == STUNErrorCode.unauthorized.code || code == STUNErrorCode.staleNonce.code
        {
            return true
        }
        return self.hasCredentials && message.verifyMessageIntegrity(key: self.signer(of: kind).key)
    }

    private mutating func sampleRTT(_ sample: Duration) {
        guard let smoothed = self.smoothedRTT else {
            self.smoothedRTT = sample
            return
        }
        self.smoothedRTT = smoothed * 7 / 8 + sample / 8
    }

    private mutating func handleSuccess(
        _ message: STUNMessage,
        of request: TURNRequest,
        local: IPSocketAddress,
        now: Instant
    ) {
        switch request.kind {
        case .binding:
            self.update(.host, family: local.address.version, to: local)
            if let mapped = message.xorMappedAddress ?? message.mappedAddress {
                self.update(.serverReflexive, family: request.destination.address.version, to: mapped)
            }
            guard self.activeSocket == nil else {
                return
            }
            self.logger.debug("active socket chosen", metadata: ["socket": "\(request.destination)"])
            self.activeSocket = request.destination
            self.nextKeepalive = now + TURNClientConstants.keepaliveInterval
            self.sendAuthenticated(self.hasAllocation ? .refresh(lifetime: nil) : .allocate, now: now)

        case .allocate:
            guard let seconds = message.lifetime else {
                self.logger.warning("ALLOCATE response without LIFETIME")
                self.stats.malformedResponses += 1
                return
            }
            let addresses = message.xorRelayedAddresses
            let v4 = addresses.first { $0.address.version == .v4 }
            let v6 = addresses.first { $0.address.version == .v6 }
            guard v4 != nil || v6 != nil else {
                self.logger.warning("ALLOCATE response without XOR-RELAYED-ADDRESS")
                self.stats.malformedResponses += 1
                return
            }
            self.lifetime = (now, .seconds(Int64(seconds)))
            self.refreshNotBefore = nil
            self.releasing = nil
            self.update(.relayed, family: .v4, to: v4)
            self.update(.relayed, family: .v6, to: v6)
            self.logger.info(
                "allocated",
                metadata: ["relayed": "\(self.relayed.all)", "lifetime": "\(seconds)s"]
            )
            while let peer = self.bufferedBinds.popFirst() {
                self.bindChannel(to: peer, now: now)
            }

        case .refresh(let requested):
            let granted = message.lifetime
            if requested == 0 || granted == 0 {
                // Our allocation is deleted (we asked, or the server ended it): make a new one.
                self.releasing = nil
                self.invalidateAllocation()
                self.sendAuthenticated(.allocate, now: now)
                return
            }
            guard let granted else {
                self.logger.warning("REFRESH response without LIFETIME")
                self.stats.malformedResponses += 1
                return
            }
            self.lifetime = (now, .seconds(Int64(granted)))
            self.refreshNotBefore = nil

        case .channelBind(let number, let peer):
            if !self.channels.confirm(number, peer: peer, now: now) {
                self.logger.debug("CHANNEL-BIND response for a forgotten channel", metadata: ["channel": "\(number)"])
            }
        }
    }

    private mutating func handleError(
        _ error: STUNErrorCode?,
        of request: TURNRequest,
        response: STUNMessage,
        now: Instant
    ) {
        let code = error?.code ?? 0
        let metadata: Logger.Metadata = [
            "method": "\(request.kind.method)", "error": "\(error.map { "\($0)" } ?? "none")",
        ]
        switch code {
        case STUNErrorCode.unauthorized.code where request.nonce != nil && self.releases(request):
            // The replaced credentials expired: the allocation they made cannot be deleted and expires on its own.
            // The new credentials stand; allocating with them is all that is left to try.
            self.logger.info("previous credentials refused, allocating with the new ones", metadata: metadata)
            self.releasing = nil
            self.sendAuthenticated(.allocate, now: now)

        case STUNErrorCode.unauthorized.code where request.nonce != nil:
            // RFC 8489 §9.2.5: a 401 to a request that carried a nonce means the credentials are wrong; retrying
            // with them cannot help.
            self.logger.warning("credentials refused", metadata: metadata)
            self.hasCredentials = false
            self.invalidateAllocation()

        case STUNErrorCode.unauthorized.code, STUNErrorCode.staleNonce.code:
            guard self.hasCredentials, let nonce = response.nonce else {
                self.logger.warning("challenge without NONCE", metadata: metadata)
                return
            }
            guard nonce != request.nonce else {
                // RFC 8489 §9.2.5 retries with the nonce the server offers; offering the one just refused again
                // would have us repeat the request at the pace of the round trip.
                self.logger.warning("challenge repeats the nonce it refused", metadata: metadata)
                self.stats.repeatedChallenges += 1
                return
            }
            if let offered = response.realm, offered != self.realm {
                guard self.realm.isEmpty else {
                    self.logger.warning("server asks for another realm", metadata: ["realm": "\(offered)"])
                    self.stats.realmMismatches += 1
                    return
                }
                self.realm = offered
                self.key = LongTermCredentials.key(username: self.username, realm: offered, password: self.password)
            }
            self.nonce = nonce
            self.logger.debug("authenticating again", metadata: metadata)
            self.sendAuthenticated(request.kind, now: now)

        case STUNErrorCode.allocationMismatch.code:
            // RFC 8656 §7.2 and §7.3: the server's idea of our 5-tuple's allocation differs from ours.
            self.logger.info("allocation mismatch", metadata: metadata)
            self.invalidateAllocation()
            switch request.kind {
            case .allocate:
                // An allocation exists (its success response was lost): delete it, then allocate again.
                self.sendAuthenticated(.refresh(lifetime: 0), now: now)
            case .refresh:
                self.releasing = nil
                self.sendAuthenticated(.allocate, now: now)
            case .channelBind(_, let peer):
                self.sendAuthenticated(.allocate, now: now)
                self.bufferedBinds.append(peer)
            case .binding:
                break
            }

        case STUNErrorCode.unknownAttribute.code:
            self.logger.warning(
                "server did not understand our request",
                metadata: metadata.merging(["attributes": "\(response.unknownAttributes ?? [])"]) { $1 }
            )
            self.protocolFailure = true

        default:
            self.logger.warning("request failed", metadata: metadata)
            switch request.kind {
            case .allocate:
                self.bufferedBinds.removeAll()
            case .channelBind(let number, _):
                self.channels.forget(number)
            case .refresh(lifetime: 0):
                self.releasing = nil
                // The deletion after a 437 was refused (the 5-tuple's allocation belongs to other credentials, our
                // relay's 441): the server's allocation stands until it expires. Allocating again at once would
                // loop at the pace of the round trip; once a keep-alive interval later, and again, it succeeds
                // when the old one is gone.
                self.reallocateAt = now + TURNClientConstants.keepaliveInterval
            case .refresh:
                self.refreshNotBefore = now + TURNClientConstants.keepaliveInterval
            case .binding:
                break
            }
        }
    }

    /// Records a host, server-reflexive or relayed address of `family`: a new one, a change (new, then the
    /// invalidated old one) or a loss.
    private mutating func update(_ kind: AllocationAddressKind, family: IPVersion, to address: IPSocketAddress?) {
        let current: IPSocketAddress?
        switch kind {
        case .host: current = self.host[family]
        case .serverReflexive: current = self.serverReflexive[family]
        case .relayed: current = self.relayed[family]
        }
        guard current != address else {
            return
        }
        switch kind {
        case .host: self.host[family] = address
        case .serverReflexive: self.serverReflexive[family] = address
        case .relayed: self.relayed[family] = address
        }
        if let address {
            self.events.append(.newAddress(kind, address))
        }
        if let current {
            self.events.append(.invalidatedAddress(kind, current))
        }
    }

    /// Forgets the allocation: its relayed addresses are invalidated, its channels and requests dropped.
    private mutating func invalidateAllocation() {
        self.logger.info(
            "invalidating allocation",
            metadata: ["activeSocket": "\(self.activeSocket.map { "\($0)" } ?? "none")"]
        )
        self.update(.relayed, family: .v4, to: nil)
        self.update(.relayed, family: .v6, to: nil)
        self.channels.removeAll()
        self.lifetime = nil
        self.refreshNotBefore = nil
        self.requests.removeAll()
    }

    /// Whether `request` is the deletion signed with replaced credentials.
    private func releases(_ request: TURNRequest) -> Bool {
        request.kind == .refresh(lifetime: 0) && self.releasing != nil
    }

    // MARK: Requests

    private mutating func retransmit(_ request: TURNRequest, now: Instant) {
        var backoff = request.backoff
        backoff.advance()
        let resent: Bool
        if backoff.isExpired(at: now) {
            resent = false
        } else if request.kind == .binding {
            var request = request
            request.backoff = backoff
            request.retransmitted = true
            self.requests.append(request)
            self.transmits.append(AllocationTransmit(destination: request.destination, payload: request.message))
            resent = true
        } else {
            resent = self.sendAuthenticated(request.kind, backoff: backoff, now: now)
        }
        guard !resent else {
            return
        }
        self.logger.debug(
            "request abandoned",
            metadata: ["method": "\(request.kind.method)", "destination": "\(request.destination)"]
        )
        self.stats.requestsAbandoned += 1
        if case .channelBind(let number, _) = request.kind {
            self.channels.bindAbandoned(number)
        }
        if let activeSocket = self.activeSocket,
            activeSocket.address.version == request.destination.address.version
        {
            // The relay no longer answers on the family we use.
            self.activeSocket = nil
            self.nextKeepalive = nil
            self.invalidateAllocation()
        }
    }

    private mutating func sendBindings(now: Instant) {
        for address in self.server.addresses {
            self.sendBinding(to: address, now: now)
        }
    }

    private mutating func sendBinding(to destination: IPSocketAddress, now: Instant) {
        guard self.requests.count < TURNClientConstants.maximumRequestsInFlight else {
            self.stats.requestsRefused += 1
            return
        }
        let transactionID = TransactionID(using: &self.rng)
        var message = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .binding, class: .request),
            transactionID: transactionID,
            attributes: [.software(self.software)],
            into: &message
        )
        self.requests.append(
            TURNRequest(
                kind: .binding,
                transactionID: transactionID,
                destination: destination,
                message: message,
                nonce: nil,
                sentAt: now,
                retransmitted: false,
                backoff: RequestBackoff(start: now)
            )
        )
        self.transmits.append(AllocationTransmit(destination: destination, payload: message))
    }

    /// Sends `kind` to the active socket with a fresh transaction id, signed once we have a nonce; false when
    /// there is no active socket, the credentials were refused, the backoff ran out or too many requests are
    /// outstanding.
    @discardableResult
    private mutating func sendAuthenticated(
        _ kind: TURNRequest.Kind,
        backoff: RequestBackoff? = nil,
        now: Instant
    ) -> Bool {
        guard let destination = self.activeSocket, self.hasCredentials else {
            return false
        }
        let backoff = backoff ?? RequestBackoff(start: now)
        guard !backoff.isExpired(at: now) else {
            return false
        }
        guard self.requests.count < TURNClientConstants.maximumRequestsInFlight else {
            self.stats.requestsRefused += 1
            return false
        }
        var attributes: [STUNAttribute]
        switch kind {
        case .binding:
            attributes = []
        case .allocate:
            // RFC 8656 §7.1: without REQUESTED-ADDRESS-FAMILY the relayed address is IPv4; ADDITIONAL-ADDRESS-FAMILY
            // IPv6 asks for both (Firezone always sends it). A relay without IPv4 could only refuse that, so an
            // IPv6-only server is asked for IPv6 alone.
            attributes = [
                .requestedTransport(TURNClientConstants.requestedTransportUDP),
                self.server.address(.v4) != nil ? .additionalAddressFamily(.v6) : .requestedAddressFamily(.v6),
            ]
        case .refresh(let lifetime):
            // RFC 8656 §7.3 defines LIFETIME for a Refresh; the transport attributes Firezone repeats there are not
            // part of it.
            attributes = lifetime.map { [.lifetime($0)] } ?? []
        case .channelBind(let number, let peer):
            attributes = [.channelNumber(number.value), .xorPeerAddress(peer)]
        }
        attributes.append(.software(self.software))
        let signer = self.signer(of: kind)
        if let nonce = self.nonce {
            attributes += [.username(signer.username), .realm(signer.realm), .nonce(nonce)]
        }
        let transactionID = TransactionID(using: &self.rng)
        var message = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: kind.method, class: .request),
            transactionID: transactionID,
            attributes: attributes,
            messageIntegrityKey: self.nonce == nil ? nil : signer.key,
            into: &message
        )
        self.requests.append(
            TURNRequest(
                kind: kind,
                transactionID: transactionID,
                destination: destination,
                message: message,
                nonce: self.nonce,
                sentAt: now,
                retransmitted: false,
                backoff: backoff
            )
        )
        self.transmits.append(AllocationTransmit(destination: destination, payload: message))
        return true
    }
}
