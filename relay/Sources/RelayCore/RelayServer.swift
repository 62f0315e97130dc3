import DequeModule
import FirezoneTime
import HeapModule
import IPPacket
import Logging
import NIOCore
import STUN

/// The relay's TURN server as a sans-IO state machine (RFC 8656; Firezone's rust/relay/server/src/server.rs).
///
/// The IO shell owns the sockets: the listening port per family and one port per allocation and family. It
/// drives the server like this:
/// 1. A datagram on the listening port goes to ``handleClientInput(_:from:now:)``. Channel data comes back as
///    `.forward`: send the payload from that allocation port to that peer; to another allocation of this relay it
///    comes back as `.loopBack`: send it as channel data to that allocation's client. STUN requests are answered
///    through commands.
/// 2. A datagram on an allocation port goes to ``handlePeerInput(length:from:to:now:)``. `.forward` says which
///    client and channel: write the 4-byte channel header in front of the payload and send it from the
///    listening port.
/// 3. After each input, drain ``pollCommand()``: messages to send, ports to open and close, channel bindings to
///    mirror into an offloading datapath. Report the outcome of every `.createAllocation`, in the order they came,
///    through ``handleAllocationPortOpened(_:_:now:)`` or ``handleAllocationPortFailed(_:_:now:)``: the
///    ALLOCATE's response waits for it. Reporting while draining is fine; what it queues is drained with the rest.
/// 4. Wake up at ``pollTimeout()`` and call ``handleTimeout(now:)``: allocations and channels expire.
///
/// The relay path (1 and 2 for data) does not allocate. Randomness (ports, the nonce key, the rate limiter's hash
/// key) comes from the injected generator, time from the caller: a test drives every rule deterministically.
/// Every table the core keeps is bounded by ``RelayLimits`` or by the port range, whatever clients send
/// (`docs/relay-security.md`).
public struct RelayServer<RNG: RandomNumberGenerator> {
    public struct Configuration: Sendable {
        /// Who mints the relay's credentials, which decides what a second allocation by one username means.
        public enum Mode: Sendable, Equatable {
            /// Joined to a Firezone portal: a username is one client, so its new ALLOCATE replaces its old
            /// allocation (a client that roamed to a new socket), as Firezone's relay does.
            case portal
            /// A general TURN server with a static secret: one credential may open several allocations (a WebRTC
            /// application, `turnutils_uclient -m 4`), up to ``RelayLimits/allocationsPerUsername``.
            case standalone
        }

        public var publicIPv4: IPv4Address?
        public var publicIPv6: IPv6Address?
        /// The listening port, which no channel may relay to on the relay's own addresses.
        public var listenPort: UInt16
        public var allocationPorts: ClosedRange<UInt16>
        /// The secret credentials are minted from (Firezone's rust/relay/server/src/auth.rs), as text.
        public var authSecret: String
        /// The SOFTWARE attribute of every response: `firezone-relay; rev=<8 characters>`.
        public var software: String
        public var mode: Mode
        public var limits: RelayLimits
        /// Peers refused with 403 beyond ``RelayConstants/isNeverPeer(_:)`` (coturn's `denied-peer-ip`).
        public var deniedPeerRanges: [IPNetwork]

        public init(
            publicIPv4: IPv4Address?,
            publicIPv6: IPv6Address?,
            listenPort: UInt16 = RelayConstants.defaultListenPort,
            allocationPorts: ClosedRange<UInt16> = RelayConstants.defaultAllocationPorts,
            authSecret: String,
            software: String = "firezone-relay; rev=xxxxxxxx",
            mode: Mode = .standalone,
            limits: RelayLimits = RelayLimits(),
            deniedPeerRanges: [IPNetwork] = []
        ) {
            precondition(publicIPv4 != nil || publicIPv6 != nil, "a relay has a public address in at least one family")
            self.publicIPv4 = publicIPv4
            self.publicIPv6 = publicIPv6
            self.listenPort = listenPort
            self.allocationPorts = allocationPorts
            self.authSecret = authSecret
            self.software = software
            self.mode = mode
            self.limits = limits
            self.deniedPeerRanges = deniedPeerRanges
        }
    }

    let configuration: Configuration
    var logger: Logger
    var rng: RNG
    /// Wall-clock time at `origin`: credentials expire in Unix time (STYLE rule 8). Moved by
    /// ``handleWallClock(unixTime:now:)`` when the wall clock is stepped.
    var unixTimeAtOrigin: Duration
    let origin: Instant
    var lastNow: Instant

    let nonces: NonceIssuer
    var replyLimiter: ReplyRateLimiter
    var allocations: [AllocationPort: Allocation] = [:]
    var allocationByClient: [ClientSocket: AllocationPort] = [:]
    /// What each username holds, to enforce its quota (standalone) or replace its allocation (portal).
    var holdingsByUsername: [String: UsernameHoldings] = [:]
    /// Allocation ports the shell was asked to open and has not yet reported on, in the order it was asked.
    var portsOpening = Deque<PortOpening>()
    var nextAllocationID: UInt64 = 0
    var channels: [ClientChannel: ChannelBinding] = [:]
    var channelByPeer: [PortAndPeer: ClientChannel] = [:]
    /// Ports held by EVEN-PORT for a later ALLOCATE with the token, and the family they were held for.
    var reservations: [UInt64: Reservation] = [:]
    var reservedPorts: Set<AllocationPort> = []
    /// Every future expiry, earliest first, at most one live entry per allocation, binding and reservation (see
    /// ``Deadline``).
    var deadlines = Heap<Deadline>()
    var commands = Deque<RelayCommand>()
    public internal(set) var stats = RelayStats()

    public init(configuration: Configuration, rng: RNG, now: Instant, unixTime: Duration, logger: Logger) {
        self.configuration = configuration
        var rng = rng
        self.nonces = NonceIssuer(using: &rng, lifetime: configuration.limits.nonceLifetime)
        self.replyLimiter = ReplyRateLimiter(limits: configuration.limits, using: &rng)
        self.rng = rng
        self.origin = now
        self.lastNow = now
        self.unixTimeAtOrigin = unixTime
        self.logger = logger
    }

    // MARK: Inputs

    /// A datagram that arrived on the listening port.
    public mutating func handleClientInput(
        _ datagram: ByteBuffer,
        from client: ClientSocket,
        now: Instant
    )
        -> ClientInputResult
    {
        self.lastNow = max(self.lastNow, now)
        guard client.address.port != 0 else {
            self.stats.countDrop(.sourcePortZero)
            return .dropped(.sourcePortZero)
        }
        // As Firezone's relay (rust/relay/server/src/server.rs): demultiplex by the first byte, 0–3 STUN, 64–127 channel data.
        switch datagram.getInteger(at: datagram.readerIndex, as: UInt8.self) {
        case .some(0...3):
            return self.handleSTUN(datagram, from: client, now: now)
        case .some(64...127):
            return self.handleChannelData(datagram, from: client, now: now)
        default:
            self.stats.countDrop(.notTURN)
            return .dropped(.notTURN)
        }
    }

    /// A datagram of `length` bytes that arrived on allocation port `port` from `peer`.
    public mutating func handlePeerInput(
        length: Int,
        from peer: PeerSocket,
        to port: AllocationPort,
        now: Instant
    )
        -> PeerInputResult
    {
        self.lastNow = max(self.lastNow, now)
        guard let key = self.channelByPeer[PortAndPeer(port: port, peer: peer)],
            let binding = self.channels[key], binding.relays(at: now)
        else {
            self.stats.countDrop(.noChannelForPeer)
            return .dropped(.noChannelForPeer)
        }
        self.stats.countRelayed(bytes: length)
        return .forward(client: binding.client, channel: binding.channel)
    }

    private mutating func handleChannelData(
        _ datagram: ByteBuffer,
        from client: ClientSocket,
        now: Instant
    ) -> ClientInputResult {
        guard let channelData = try? ChannelData(decoding: datagram) else {
            self.stats.countDrop(.malformedChannelData)
            return .dropped(.malformedChannelData)
        }
        let key = ClientChannel(client: client, channel: ChannelNumber(channelData.channelNumber))
        guard let binding = self.channels[key], binding.relays(at: now) else {
            self.stats.countDrop(.unboundChannel)
            return .dropped(.unboundChannel)
        }
        if let ownAddress = self.ownAddress(binding.peer.address.address) {
            return self.loopBack(channelData.payload, from: binding, ownAddress: ownAddress, now: now)
        }
        self.stats.countRelayed(bytes: channelData.payload.readableBytes)
        return .forward(payload: channelData.payload, from: binding.port, to: binding.peer)
    }

    /// `address` if it is one of the relay's public addresses. A channel to it leads to another allocation of this
    /// relay (``permits(_:)`` admits only allocation ports there).
    private func ownAddress(_ address: IPAddress) -> IPAddress? {
        switch address {
        case .v4(let v4): v4 == self.configuration.publicIPv4 ? address : nil
        case .v6(let v6): v6 == self.configuration.publicIPv6 ? address : nil
        }
    }

    /// Channel data to another allocation of this relay goes straight to that allocation's client, as the XDP
    /// datapath loops it (Firezone #10286, `from_ipv4_channel::to_ipv4_channel`): sent as UDP to the relay's
    /// own public address, it would reach the allocation port only through a NAT that hairpins and translates the
    /// source back to the public address (RFC 4787 §6, REQ-9), which a relay behind a masquerading router does not
    /// have. The other allocation sees the datagram from the relay's own address and the sending allocation's port,
    /// and relays it only over a channel bound to that peer, as it would the datagram itself.
    private mutating func loopBack(
        _ payload: ByteBuffer,
        from binding: ChannelBinding,
        ownAddress: IPAddress,
        now: Instant
    ) -> ClientInputResult {
        let arrival = PortAndPeer(
            port: AllocationPort(binding.peer.address.port),
            peer: PeerSocket(IPSocketAddress(ownAddress, port: binding.port.value))
        )
        guard let key = self.channelByPeer[arrival], let target = self.channels[key], target.relays(at: now) else {
            self.stats.countDrop(.noChannelForPeer)
            return .dropped(.noChannelForPeer)
        }
        self.stats.countRelayed(bytes: payload.readableBytes)
        return .loopBack(payload: payload, client: target.client, channel: target.channel)
    }

    /// The shell opened the port of the oldest `.createAllocation` it has not reported on. Once every family of
    /// the allocation is open, its success response goes out.
    public mutating func handleAllocationPortOpened(_ port: AllocationPort, _ family: IPVersion, now: Instant) {
        self.lastNow = max(self.lastNow, now)
        let report = self.takePortOpening(port, family)
        if report.abandoned {
            self.commands.append(.freeAllocation(port, family))
            return
        }
        guard var allocation = self.allocations[port], allocation.id == report.allocationID,
            var opening = allocation.opening
        else {
            return
        }
        opening.opened.append(family)
        if opening.opened.count < allocation.families.count {
            allocation.opening = opening
            self.allocations[port] = allocation
            return
        }
        allocation.opening = nil
        self.allocations[port] = allocation
        self.send(opening.success, method: .allocate, error: nil, to: allocation.client)
        self.logger.info(
            "Allocation created",
            metadata: ["allocation.port": "\(port)", "allocation.families": "\(allocation.families)"]
        )
    }

    /// The shell could not open the port of the oldest `.createAllocation` it has not reported on (the port is
    /// taken by another program, or the process is out of file descriptors): the allocation goes, its other
    /// families' ports are closed, and the client gets 508 Insufficient Capacity.
    public mutating func handleAllocationPortFailed(_ port: AllocationPort, _ family: IPVersion, now: Instant) {
        self.lastNow = max(self.lastNow, now)
        let report = self.takePortOpening(port, family)
        guard !report.abandoned, let allocation = self.allocations[port], allocation.id == report.allocationID,
            let opening = allocation.opening
        else {
            return
        }
        self.logger.info(
            "Cannot open an allocation port",
            metadata: ["allocation.port": "\(port)", "family": "\(family)"]
        )
        self.deleteAllocation(at: port)
        self.send(opening.failure, method: .allocate, error: .insufficientCapacity, to: allocation.client)
    }

    /// The opening the report is about, checking that the shell reports in the order it was asked.
    private mutating func takePortOpening(_ port: AllocationPort, _ family: IPVersion) -> PortOpening {
        guard let opening = self.portsOpening.popFirst() else {
            preconditionFailure("a port reported on that the relay core did not ask to open")
        }
        precondition(opening.port == port && opening.family == family, "ports reported out of the order asked")
        return opening
    }

    /// The wall clock read at `now`. Credentials and nonces expire in Unix time, and the wall clock can be stepped
    /// (NTP, a suspended VM) while the monotonic clock runs on: the shell passes a fresh reading now and then (once
    /// a second will do), and the core counts Unix time from the latest.
    public mutating func handleWallClock(unixTime: Duration, now: Instant) {
        self.lastNow = max(self.lastNow, now)
        self.unixTimeAtOrigin = unixTime - (now - self.origin)
    }

    // MARK: Outputs

    /// The next thing the shell must do, in order.
    public mutating func pollCommand() -> RelayCommand? {
        self.commands.popFirst()
    }

    /// When ``handleTimeout(now:)`` is due next, and why; never earlier than the last `now` seen.
    public func pollTimeout() -> (deadline: Instant, reason: StaticString)? {
        guard let next = self.deadlines.min else {
            return nil
        }
        return (max(next.at, self.lastNow), next.kind.reason)
    }

    /// Expires allocations and channels whose time has come, in deadline order.
    public mutating func handleTimeout(now: Instant) {
        self.lastNow = max(self.lastNow, now)
        while let next = self.deadlines.min, next.at <= now {
            self.deadlines.removeMin()
            self.expire(next, now: now)
        }
    }

    /// How many entries the core's tables hold: each is bounded by a limit, whatever the traffic. Nonces take
    /// none (``NonceIssuer``).
    package var stateSizes: RelayStateSizes {
        RelayStateSizes(
            allocations: self.allocations.count,
            channels: self.channels.count,
            reservations: self.reservations.count,
            usernames: self.holdingsByUsername.count,
            deadlines: self.deadlines.count,
            rateLimitedPrefixes: self.replyLimiter.occupiedSlots,
            portsOpening: self.portsOpening.count
        )
    }

    /// The current Unix time, from the time passed in.
    func unixTime(at now: Instant) -> Duration {
        self.unixTimeAtOrigin + (now - self.origin)
    }
}

/// The sizes of the relay core's tables (``RelayServer/stateSizes``).
package struct RelayStateSizes: Equatable, Sendable {
    package var allocations: Int
    package var channels: Int
    package var reservations: Int
    package var usernames: Int
    package var deadlines: Int
    package var rateLimitedPrefixes: Int
    package var portsOpening: Int
}
