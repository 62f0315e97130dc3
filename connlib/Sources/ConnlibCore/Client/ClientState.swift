import DequeModule
import FirezoneCrypto
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import OrderedCollections
import PortalMessages
import Snownet
import WireGuard

/// The client's tunnel logic without IO (Firezone's rust/connlib/tunnel/src/client.rs): resources and their
/// routes, flows to the gateways that serve them, and a snownet ``Node`` (role client: ICE controlling) that
/// carries the packets.
///
/// The shell feeds it portal events (``handlePortalEvent(_:now:)``), packets read from the TUN device
/// (``handleTunInput(_:now:)``), datagrams from its UDP sockets (``handleNetworkInput(_:from:local:now:)``) and
/// timeouts (``handleTimeout(now:)``). After every input it drains ``pollTransmit()`` (datagrams to send),
/// ``pollTunWrite()`` (packets for the TUN device: ICMP errors, DNS answers), ``pollPortalMessage()`` (messages to
/// the portal), ``pollDNSQuery()`` (queries to resolve outside the tunnel), ``pollEvent()``, and sleeps until
/// ``pollTimeout()``.
///
/// A packet for a resource without a flow waits in that resource's buffer while the client asks the portal for
/// one (`create_flow`); `flow_created` names the gateway, the client connects to it and sends the buffered packets
/// once the connection is established.
public struct ClientState {
    public typealias SnownetNode = Node<GatewayID, RelayID>

    /// The gateway a flow goes through and what it may send us.
    struct GatewayPeer {
        var site: SiteID
        var ipv4: IPv4Address
        var ipv6: IPv6Address
        /// The resources routed via this gateway.
        var resources: OrderedSet<ResourceID> = []
        /// Whether snownet reported the connection established: until then the resources' packets wait in their
        /// flow buffers, so that they leave in the order they came.
        var established = false
    }

    /// A resource's packets waiting for its flow (created, then established).
    struct PendingFlow {
        var packets: Deque<IPPacket> = []
    }

    public internal(set) var node: SnownetNode
    public internal(set) var stats = ClientStats()
    let logger: Logger

    // Every property a routing decision is made of forgets the cached decisions when it changes (`routeCache`).
    var interface: ClientInterface? {
        didSet { self.routeCache.invalidate() }
    }
    var resources: OrderedDictionary<ResourceID, ClientResource> = [:] {
        didSet { self.routeCache.invalidate() }
    }
    /// Whether the shell activated the Internet resource (FIREZONE_ACTIVATE_INTERNET_RESOURCE).
    var internetResourceActivated: Bool {
        didSet { self.routeCache.invalidate() }
    }
    /// Its routes change only in `rebuildRoutingTable`, which invalidates `routeCache` (a lookup updates the table's
    /// own cache, so an observer here would forget the decisions on every packet).
    var routing = ClientRoutingTable()
    var routeCache = ClientRouteCache()
    var stub: StubResolver
    /// The proxy address records of the current DNS resources, by proxy address.
    var proxyRecords: [IPAddress: ProxyIPRecord] = [:] {
        didSet { self.routeCache.invalidate() }
    }
    var dnsResourceNAT = ClientDNSResourceNAT()
    var systemResolvers: [IPSocketAddress] = []
    var dnsQueries: Deque<RecursiveDNSQuery> = []
    /// Connlib keeps such mappings for 60 s (`IDS_EXPIRE`); a bounded LRU forgets the oldest instead.
    var tunnelledQueries = LRUCache<TunnelledQuery, IPSocketAddress>(capacity: ClientConstants.tunnelledQueryCapacity)
    /// The stub's TCP side on the sentinels (Firezone's rust/connlib/dns-over-tcp).
    var dnsOverTCP: DNSTCPServer
    /// Queries read from a TCP connection and sent over UDP through the tunnel, by the application's port and the
    /// message ID: their answers go back on the connection.
    var tcpTunnelledQueries = LRUCache<TCPTunnelledQuery, DNSTCPConnectionID>(
        capacity: ClientConstants.tunnelledQueryCapacity
    )
    var siteStatus: [SiteID: ResourceStatus] = [:]

    var gateways: OrderedDictionary<GatewayID, GatewayPeer> = [:] {
        didSet { self.routeCache.invalidate() }
    }
    var gatewayByResource: [ResourceID: GatewayID] = [:] {
        didSet { self.routeCache.invalidate() }
    }
    var pendingFlows: OrderedDictionary<ResourceID, PendingFlow> = [:]
    var lastFlowRequest: [ResourceID: Instant] = [:]
    var recentGateways = LRUCache<GatewayID, Void>(capacity: ClientConstants.recentGatewaysCapacity)

    var transmits: Deque<NodeTransmit> = []
    var tunWrites: Deque<IPPacket> = []
    var portalMessages: Deque<ClientOutbound> = []
    var events: Deque<ClientEvent> = []
    var lastTunConfig: TunConfig?
    var lastResourceViews: [ClientResourceView]?

    var shuttingDown = false
    var shutDownDrained = false
    var unixOffset: Duration
    var lastNow: Instant

    /// `seed` keys snownet's random choices (32 bytes from the operating system in a shell, fixed in tests);
    /// `secret` is the client's WireGuard key, whose public half the shell sends the portal when it connects.
    /// `dnsRecords` are the proxy addresses of an earlier session of this process (#10104).
    public init(
        secret: StaticSecret,
        seed: Bytes32,
        internetResourceActivated: Bool,
        dnsRecords: ProxyIPSnapshot = .empty,
        logger: Logger,
        unixTime: Duration,
        now: Instant
    ) {
        self.node = SnownetNode(role: .client, secret: secret, seed: seed, logger: logger, now: now, unixTime: unixTime)
        self.internetResourceActivated = internetResourceActivated
        self.stub = StubResolver(records: dnsRecords)
        self.dnsOverTCP = DNSTCPServer(seed: Self.sequenceNumberSeed(seed))
        self.logger = logger
        self.unixOffset = unixTime - (now - .zero)
        self.lastNow = now
    }

    /// The key the portal must know the client by (it changes with ``reset(secret:now:)``).
    public var publicKey: PublicKey {
        self.node.publicKey
    }

    /// Whether a graceful shutdown (``shutDown(now:)``) finished: every connection got its goodbye and every
    /// datagram was handed out (Firezone #10400).
    public var isShutDown: Bool {
        self.shutDownDrained
    }

    // MARK: Output

    public mutating func pollTransmit() -> NodeTransmit? {
        if let transmit = self.transmits.popFirst() {
            return transmit
        }
        if let transmit = self.node.pollTransmit() {
            return transmit
        }
        if self.shuttingDown, self.node.connectionIDs.isEmpty {
            self.shutDownDrained = true
        }
        return nil
    }

    /// A packet for the TUN device.
    public mutating func pollTunWrite() -> IPPacket? {
        self.tunWrites.popFirst()
    }

    public mutating func pollPortalMessage() -> ClientOutbound? {
        self.portalMessages.popFirst()
    }

    public mutating func pollEvent() -> ClientEvent? {
        self.events.popFirst()
    }

    /// Whether any `poll…` method has something to hand out (or ``pollTransmit()`` has a shutdown to finish): most
    /// packets leave nothing behind, and a shell that checks this once skips polling every queue after each of them.
    public var hasPendingOutput: Bool {
        !self.transmits.isEmpty || self.node.hasPendingTransmits || !self.tunWrites.isEmpty
            || !self.portalMessages.isEmpty || !self.dnsQueries.isEmpty || !self.events.isEmpty
            || (self.shuttingDown && !self.shutDownDrained)
    }

    /// snownet's earliest deadline, or the last `now` while output is queued.
    public func pollTimeout() -> (deadline: Instant, reason: StaticString)? {
        if !self.transmits.isEmpty || !self.tunWrites.isEmpty || !self.portalMessages.isEmpty
            || !self.events.isEmpty || !self.dnsQueries.isEmpty
        {
            return (self.lastNow, "queued output")
        }
        let node = self.node.pollTimeout()
        guard let dns = self.dnsOverTCP.pollTimeout() else {
            return node
        }
        guard let node, node.deadline <= dns.deadline else {
            return dns
        }
        return node
    }

    public mutating func handleTimeout(now: Instant) {
        self.lastNow = now
        self.node.handleTimeout(now: now, unixTime: self.unixOffset + (now - .zero))
        self.dnsOverTCP.handleTimeout(now: now)
        self.drainDNSOverTCP(now: now)
        self.drainNode(now: now)
    }

    // MARK: Host

    /// Activates or deactivates the Internet resource (FIREZONE_ACTIVATE_INTERNET_RESOURCE in the headless client).
    public mutating func setInternetResourceActivated(_ activated: Bool, now: Instant) {
        self.lastNow = now
        guard activated != self.internetResourceActivated else {
            return
        }
        self.internetResourceActivated = activated
        self.resourcesDidChange()
    }

    /// Starts over after a network change (roaming; connlib's `reset`): every connection closes, the WireGuard key
    /// becomes `secret`, and allocations restart from BINDING. The shell reconnects to the portal with the new
    /// ``publicKey``; the next packet to a resource asks for a flow again, at once.
    public mutating func reset(secret: StaticSecret, now: Instant) {
        self.lastNow = now
        self.node.reset(secret: secret, now: now)
        self.lastFlowRequest.removeAll()
        self.drainNode(now: now)
    }

    /// Closes every connection with a goodbye (Firezone #10400, #10076); ``isShutDown`` tells when the goodbyes
    /// have been handed out. Packets and portal events after this are dropped.
    public mutating func shutDown(now: Instant) {
        self.lastNow = now
        guard !self.shuttingDown else {
            return
        }
        self.shuttingDown = true
        self.node.closeAll(goodbye: Self.goodbyePacket().buffer, now: now)
        self.drainNode(now: now)
    }

    static func goodbyePacket() -> IPPacket {
        do {
            return try P2PControlMessage.goodbye.makePacket()
        } catch {
            preconditionFailure("an empty goodbye is a valid control packet: \(error)")
        }
    }

    // MARK: Node events

    /// Turns snownet's events into portal messages and flow changes; runs after every input.
    mutating func drainNode(now: Instant) {
        while let event = self.node.pollEvent() {
            switch event {
            case .newIceCandidates(let gateway, let candidates):
                self.portalMessages.append(
                    .broadcastIceCandidates(GatewaysIceCandidates(gatewayIDs: [gateway], candidates: candidates))
                )
            case .invalidatedIceCandidates(let gateway, let candidates):
                self.portalMessages.append(
                    .broadcastInvalidatedIceCandidates(
                        GatewaysIceCandidates(gatewayIDs: [gateway], candidates: candidates)
                    )
                )
            case .connectionEstablished(let gateway, _):
                self.connectionEstablished(gateway, now: now)
            case .connectionPathChanged:
                break
            case .connectionFailed(let gateway, let failure):
                self.logger.info(
                    "Connection failed",
                    metadata: ["gateway.id": "\(gateway)", "failure": "\(failure)"]
                )
                self.forgetGateway(gateway)
            case .connectionClosed(let gateway):
                self.logger.info("Connection closed", metadata: ["gateway.id": "\(gateway)"])
                self.forgetGateway(gateway)
            case .noRelays:
                self.events.append(.noRelays)
            }
        }
    }
}
