import ConnlibCore
import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import ICE
import IPPacket
import Logging
import NIOCore
import PortalMessages
import SimulatedRelay
import Snownet
import WireGuard

/// A ``GatewayState`` on a simulated host.
struct GatewayHost: SimulatedNode {
    var state: GatewayState
    let socket: IPSocketAddress
    /// What the gateway wrote to its TUN device, in order.
    private(set) var tunWrites: [IPPacket] = []
    /// Every event, in order.
    private(set) var events: [GatewayEvent] = []
    /// Events not yet carried by the test's portal.
    private(set) var signals: [GatewayEvent] = []

    mutating func handleDatagram(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        var datagram = datagram
        if let packet = self.state.handleNetworkInput(&datagram, from: source, local: destination, now: now) {
            self.tunWrites.append(packet)
        }
        self.collectEvents()
    }

    mutating func pollTransmit(now: Instant) -> SimulatedTransmit? {
        self.state.pollTransmit().map {
            SimulatedTransmit(source: $0.source ?? self.socket, destination: $0.destination, payload: $0.payload)
        }
    }

    func pollTimeout() -> Instant? {
        self.state.pollTimeout()?.deadline
    }

    mutating func handleTimeout(now: Instant, unixTime: Duration) {
        self.state.handleTimeout(now: now, unixTime: unixTime)
        self.collectEvents()
    }

    mutating func change<Value>(_ body: (inout GatewayState) -> Value) -> Value {
        defer { self.collectEvents() }
        return body(&self.state)
    }

    mutating func takeSignals() -> [GatewayEvent] {
        defer { self.signals.removeAll() }
        return self.signals
    }

    mutating func clearTUNWrites() {
        self.tunWrites.removeAll()
    }

    private mutating func collectEvents() {
        while let event = self.state.pollEvent() {
            self.events.append(event)
            self.signals.append(event)
        }
    }
}

/// A client's snownet node on a simulated host: what connlib's client does with its connection to a gateway.
struct ClientHost: SimulatedNode {
    var node: Node<String, RelayID>
    let socket: IPSocketAddress
    /// Decrypted packets from the gateway, in order.
    private(set) var delivered: [IPPacket] = []
    private(set) var events: [NodeEvent<String>] = []
    private(set) var signals: [NodeEvent<String>] = []
    private var outbox: [SimulatedTransmit] = []

    init(node: Node<String, RelayID>, socket: IPSocketAddress) {
        self.node = node
        self.socket = socket
    }

    mutating func handleDatagram(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        var datagram = datagram
        if let connection = try? self.node.decapsulate(&datagram, from: source, local: destination, now: now),
            let packet = try? IPPacket(datagram)
        {
            self.delivered.append(packet)
            // connlib's client closes its side at once on the gateway's goodbye.
            if packet.fzP2PControl?.eventType == .goodbye {
                self.node.removeConnection(connection, now: now)
            }
        }
        self.collectEvents()
    }

    mutating func pollTransmit(now: Instant) -> SimulatedTransmit? {
        if !self.outbox.isEmpty {
            return self.outbox.removeFirst()
        }
        return self.node.pollTransmit().map {
            SimulatedTransmit(source: $0.source ?? self.socket, destination: $0.destination, payload: $0.payload)
        }
    }

    func pollTimeout() -> Instant? {
        self.node.pollTimeout()?.deadline
    }

    mutating func handleTimeout(now: Instant, unixTime: Duration) {
        self.node.handleTimeout(now: now, unixTime: unixTime)
        self.collectEvents()
    }

    mutating func change<Value>(_ body: (inout Node<String, RelayID>) throws -> Value) rethrows -> Value {
        defer { self.collectEvents() }
        return try body(&self.node)
    }

    /// Encrypts `packet` for the gateway and queues the datagram, as the client's TUN path does.
    mutating func send(_ packet: IPPacket, now: Instant) {
        var buffer = packet.buffer.withEncapsulationRoom()
        if let destination = try? self.node.encapsulate(&buffer, for: GatewayScenario.gatewayConnection, now: now) {
            self.outbox.append(
                SimulatedTransmit(
                    source: destination.source ?? self.socket,
                    destination: destination.destination,
                    payload: buffer
                )
            )
        }
        self.collectEvents()
    }

    mutating func takeSignals() -> [NodeEvent<String>] {
        defer { self.signals.removeAll() }
        return self.signals
    }

    mutating func clearDelivered() {
        self.delivered.removeAll()
    }

    private mutating func collectEvents() {
        while let event = self.node.pollEvent() {
            self.events.append(event)
            self.signals.append(event)
        }
    }
}

/// A client and a gateway on the public Internet with one of our relays, and a portal that authorizes flows and
/// carries candidates: the gateway's life as the portal and a client drive it.
struct GatewayScenario {
    static let gatewayConnection = "gateway"
    static let client = "client"
    static let gateway = "gateway-host"
    static let relay = "relay"
    static let relayID = RelayID("f5fd5c87-1b2e-4d3a-9a34-6a1f3e1f0c01")
    static let clientID = ClientID("2b7ea0b0-3d8a-4a49-9c1e-3c8b4d0f6a11")
    static let clientSecret = Bytes32((0..<32).map { UInt8($0) &* 7 &+ 3 })!
    static let gatewaySecret = Bytes32((0..<32).map { UInt8($0) &* 11 &+ 5 })!
    static let presharedKey = PresharedKey(Bytes32((0..<32).map { UInt8($0) &* 13 &+ 1 })!)
    static let clientCredentials = PortalMessages.IceCredentials(username: "cufr", password: "client-password-012345")
    static let gatewayCredentials = PortalMessages.IceCredentials(username: "gufr", password: "gateway-password-01234")
    static let clientV4 = IPv4Address(100, 64, 0, 9)
    static let clientV6 = IPv6Address("fd00:2021:1111::9")!
    static let interface = GatewayInterface(ipv4: IPv4Address(100, 64, 1, 2), ipv6: IPv6Address("fd00:2021:1111::1:2")!)
    static let cidrResource = ResourceID("0c8f1e1a-8d2b-4c5e-9f3a-1b2c3d4e5f60")
    static let dnsResource = ResourceID("7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    static let resourceAddress = IPAddress("172.20.0.10")!

    var simulation: Simulation
    let logs = InMemoryLogHandler.Records()

    init(seed: UInt64) {
        self.simulation = Simulation(seed: seed)
        let relay = RelayNode(
            addresses: [IPAddress("203.0.113.1")!],
            seed: self.simulation.rng.next(),
            clock: self.simulation.clock,
            logger: self.logs.logger(label: "relay", level: .info)
        )
        self.simulation.addHost(Self.relay, addresses: relay.addresses, node: relay)
        let clientSocket = IPSocketAddress(IPAddress("198.51.100.10")!, port: 52625)
        let client = ClientHost(
            node: Node(
                role: .client,
                secret: StaticSecret(Self.clientSecret),
                seed: Bytes32(self.simulation.rng.bytes(32))!,
                logger: self.logs.logger(label: "client", level: .debug),
                now: self.simulation.now,
                unixTime: self.simulation.clock.unixTime
            ),
            socket: clientSocket
        )
        self.simulation.addHost(
            Self.client,
            addresses: [clientSocket.address],
            link: LinkConditions(latency: .milliseconds(10)),
            node: client
        )
        let gatewaySocket = IPSocketAddress(IPAddress("192.0.2.10")!, port: 52625)
        let gateway = GatewayHost(
            state: GatewayState(
                secret: StaticSecret(Self.gatewaySecret),
                seed: Bytes32(self.simulation.rng.bytes(32))!,
                logger: self.logs.logger(label: "gateway", level: .debug),
                now: self.simulation.now,
                unixTime: self.simulation.clock.unixTime
            ),
            socket: gatewaySocket
        )
        self.simulation.addHost(
            Self.gateway,
            addresses: [gatewaySocket.address],
            link: LinkConditions(latency: .milliseconds(10)),
            node: gateway
        )
    }

    var unixSeconds: UInt64 {
        UInt64(self.simulation.clock.unixTime.components.seconds)
    }

    func relayEntry(for host: String) -> RelayEntry {
        let credentials = RelayNode.credentials(clock: self.simulation.clock, salt: host)
        return .turn(
            TurnRelay(
                id: Self.relayID,
                address: IPSocketAddress(IPAddress("203.0.113.1")!, port: RelayNode.listeningPort),
                username: credentials.username,
                password: credentials.password,
                expiresAt: self.unixSeconds + 3600
            )
        )
    }

    func gatewayInit(authorizations: [Authorization] = []) -> GatewayInit {
        GatewayInit(
            interface: Self.interface,
            config: GatewayConfig(ipv4MasqueradeEnabled: true, ipv6MasqueradeEnabled: true),
            relays: [self.relayEntry(for: Self.gateway)],
            accountSlug: "acme",
            authorizations: authorizations
        )
    }

    /// The portal's `init` to the gateway, the relays to the client; both allocate.
    mutating func start() {
        self.portal(.initialize(self.gatewayInit()))
        let servers = PortalRelays.turnServers(from: [self.relayEntry(for: Self.client)])
        self.simulation.withNode(Self.client, as: ClientHost.self) { host, now in
            host.change { $0.updateRelays(removing: [], adding: servers, now: now) }
        }
        self.run(for: .seconds(2))
    }

    mutating func portal(_ event: GatewayInbound) {
        self.simulation.withNode(Self.gateway, as: GatewayHost.self) { host, now in
            host.change { $0.handlePortalEvent(event, now: now) }
        }
    }

    static func flow(_ resource: GatewayResource, ref: String = "ref-1", expiresAt: UInt64? = nil) -> AuthorizeFlow {
        AuthorizeFlow(
            ref: ref,
            resource: resource,
            client: FlowClient(
                id: Self.clientID,
                publicKey: LocalIdentity(secret: StaticSecret(Self.clientSecret)).publicKey,
                presharedKey: Self.presharedKey,
                ipv4: Self.clientV4,
                ipv6: Self.clientV6
            ),
            clientIceCredentials: Self.clientCredentials,
            gatewayIceCredentials: Self.gatewayCredentials,
            expiresAt: expiresAt
        )
    }

    /// The client's `create_flow` as the portal carries it out: `authorize_flow` to the gateway, then the client
    /// sets up its side with the gateway's key.
    mutating func authorize(_ resource: GatewayResource, ref: String = "ref-1", expiresAt: UInt64? = nil) throws {
        self.portal(.authorizeFlow(Self.flow(resource, ref: ref, expiresAt: expiresAt)))
        try self.simulation.withNode(Self.client, as: ClientHost.self) { host, now in
            try host.change { node in
                try node.upsertConnection(
                    Self.gatewayConnection,
                    remoteKey: LocalIdentity(secret: StaticSecret(Self.gatewaySecret)).publicKey,
                    presharedKey: Self.presharedKey,
                    local: ICE.IceCredentials(
                        ufrag: Self.clientCredentials.username,
                        password: Self.clientCredentials.password
                    ),
                    remote: ICE.IceCredentials(
                        ufrag: Self.gatewayCredentials.username,
                        password: Self.gatewayCredentials.password
                    ),
                    now: now
                )
            }
        }
    }

    /// Authorizes `resource`, runs until the connection is up and lets the client send a first packet (to the
    /// gateway's DNS port): a WireGuard responder sends nothing before the initiator's first data (WireGuard paper
    /// §5.4.7), and connlib's gateway only ever answers. Clears what that packet left behind.
    mutating func connect(_ resource: GatewayResource, expiresAt: UInt64? = nil) throws -> Bool {
        self.start()
        try self.authorize(resource, expiresAt: expiresAt)
        guard self.run(for: .seconds(10), until: Self.bothEstablished) else {
            return false
        }
        self.clientSends(
            try IPPacket.makeUDP(
                source: .v4(Self.clientV4),
                sourcePort: 40000,
                destination: .v4(Self.interface.ipv4),
                destinationPort: AddressPlan.gatewayDNSPort,
                payload: ByteBuffer(string: "hello")
            )
        )
        self.run(for: .milliseconds(200))
        let arrived = self.gateway.tunWrites.count == 1
        self.simulation.withNode(Self.gateway, as: GatewayHost.self) { host, _ in host.clearTUNWrites() }
        return arrived
    }

    static func bothEstablished(_ simulation: Simulation) -> Bool {
        simulation.node(Self.client, as: ClientHost.self).node.isEstablished(Self.gatewayConnection)
            && simulation.node(Self.gateway, as: GatewayHost.self).state.isConnected(to: Self.clientID)
    }

    var gateway: GatewayHost {
        self.simulation.node(Self.gateway, as: GatewayHost.self)
    }

    var client: ClientHost {
        self.simulation.node(Self.client, as: ClientHost.self)
    }

    mutating func clientSends(_ packet: IPPacket) {
        self.simulation.withNode(Self.client, as: ClientHost.self) { host, now in host.send(packet, now: now) }
    }

    mutating func resourceSends(_ packet: IPPacket) {
        self.simulation.withNode(Self.gateway, as: GatewayHost.self) { host, now in
            host.change { $0.handleTUNInput(packet, now: now) }
        }
    }

    mutating func withGateway<Value>(_ body: (inout GatewayState, Instant) -> Value) -> Value {
        self.simulation.withNode(Self.gateway, as: GatewayHost.self) { host, now in
            host.change { body(&$0, now) }
        }
    }

    /// Carries candidates between the two sides at once, as the portal does (its delay does not matter here).
    private mutating func signal() {
        let gatewayEvents = self.simulation.withNode(Self.gateway, as: GatewayHost.self) { host, _ in
            host.takeSignals()
        }
        for event in gatewayEvents {
            self.simulation.withNode(Self.client, as: ClientHost.self) { host, now in
                host.change { node in
                    switch event {
                    case .portal(.broadcastIceCandidates(let candidates)):
                        _ = try? node.addRemoteCandidates(candidates.candidates, for: Self.gatewayConnection, now: now)
                    case .portal(.broadcastInvalidatedIceCandidates(let candidates)):
                        for candidate in candidates.candidates {
                            try? node.removeRemoteCandidate(candidate, for: Self.gatewayConnection, now: now)
                        }
                    default:
                        break
                    }
                }
            }
        }
        let clientEvents = self.simulation.withNode(Self.client, as: ClientHost.self) { host, _ in host.takeSignals() }
        for event in clientEvents {
            switch event {
            case .newIceCandidates(_, let candidates):
                self.portal(.iceCandidates(ClientIceCandidates(clientID: Self.clientID, candidates: candidates)))
            case .invalidatedIceCandidates(_, let candidates):
                self.portal(
                    .invalidateIceCandidates(ClientIceCandidates(clientID: Self.clientID, candidates: candidates))
                )
            default:
                break
            }
        }
    }

    /// Runs the network and the portal for `duration`, or until `condition` holds; whether it held.
    @discardableResult
    mutating func run(for duration: Duration, until condition: (Simulation) -> Bool = { _ in false }) -> Bool {
        let deadline = self.simulation.now + duration
        while true {
            self.signal()
            if condition(self.simulation) {
                return true
            }
            if self.simulation.now >= deadline {
                return false
            }
            let interrupted = self.simulation.advance(for: deadline - self.simulation.now) { simulation in
                condition(simulation) || !simulation.node(Self.client, as: ClientHost.self).signals.isEmpty
                    || !simulation.node(Self.gateway, as: GatewayHost.self).signals.isEmpty
            }
            if !interrupted && self.simulation.now < deadline {
                self.simulation.elapse(deadline - self.simulation.now)
            }
        }
    }

    func report() -> String {
        "\(self.simulation.report(lastEntries: 60))\ngateway events: \(self.gateway.events)\nclient events: \(self.client.events)"
    }
}
