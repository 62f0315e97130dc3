import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import ICE
import IPPacket
import Logging
import NIOCore
import SimulatedRelay
import Snownet
import TURNClient
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A client and a gateway with snownet nodes, one or two relays running our `RelayServer`, NAT routers of the
/// kinds a test asks for, and a portal that carries candidates between the two nodes: the whole of a
/// connection's life in the simulated network.
///
/// Addresses: relays on 203.0.113.0/24, NAT routers' public sides on 198.51.100.0/24 (client) and
/// 192.0.2.0/24 (gateway), hosts behind them on 10.0.0.0/8; a host without NAT has a public 198.51.100.x or
/// 192.0.2.x address. Hosts are IPv4 only: the NAT router kit translates IPv4.
struct Scenario {
    /// Seeds per scenario: 100 in `make test`; `SNOWNET_SCENARIO_SEEDS=<n>` runs more (a nightly-style run) or
    /// fewer. `SIMULATION_SEED` still replays one.
    static let seedCount: Int = {
        getenv("SNOWNET_SCENARIO_SEEDS").flatMap { Int(String(cString: $0)) } ?? 100
    }()

    static var seeds: [UInt64] {
        TestSeeds.seeds(count: Self.seedCount)
    }

    static let client = "client"
    static let gateway = "gateway"
    static let clientSecret = Bytes32((0..<32).map { UInt8($0) &* 7 &+ 3 })!
    static let gatewaySecret = Bytes32((0..<32).map { UInt8($0) &* 11 &+ 5 })!
    static let clientCredentials = IceCredentials(ufrag: "cufrag", password: "client-password-0123456789")
    static let gatewayCredentials = IceCredentials(ufrag: "gufrag", password: "gateway-password-0123456789")
    static let presharedKey = PresharedKey(Bytes32((0..<32).map { UInt8($0) &* 13 &+ 1 })!)
    static let clientTunnelAddress = IPAddress("100.64.0.1")!
    static let resourceAddress = IPAddress("172.20.0.10")!

    var simulation: Simulation
    let logs: InMemoryLogHandler.Records
    let relayNames: [String]
    /// How long the portal takes to carry candidates from one node to the other.
    var signallingDelay: Duration = .milliseconds(20)
    /// Whether a node that reports no relays gets them again (it reconnects to the portal, whose `init` lists them).
    var portalRestoresRelays = true
    private var inTransit: [(arrival: Instant, host: String, event: NodeEvent<String>)] = []
    /// When the portal first delivered candidates to each host.
    private(set) var firstCandidatesDelivered: [String: Instant] = [:]

    enum Placement {
        case publicInternet
        case behind(NATConfiguration)
    }

    init(
        seed: UInt64,
        client: Placement,
        gateway: Placement,
        relays: Int = 1,
        clientLink: LinkConditions = LinkConditions(latency: .milliseconds(10)),
        gatewayLink: LinkConditions = LinkConditions(latency: .milliseconds(10)),
        relayLink: LinkConditions = LinkConditions(),
        peerLogLevel: Logger.Level = .debug
    ) {
        self.simulation = Simulation(seed: seed)
        self.logs = InMemoryLogHandler.Records()
        var names: [String] = []
        for index in 1...relays {
            let name = "relay-\(index)"
            let relay = RelayNode(
                addresses: [IPAddress("203.0.113.\(index)")!],
                seed: self.simulation.rng.next(),
                clock: self.simulation.clock,
                logger: self.logs.logger(label: name, level: .info)
            )
            self.simulation.addHost(name, addresses: relay.addresses, link: relayLink, node: relay)
            names.append(name)
        }
        self.relayNames = names
        self.addPeer(
            Self.client,
            role: .client,
            secret: Self.clientSecret,
            placement: client,
            link: clientLink,
            net: 1,
            logLevel: peerLogLevel
        )
        self.addPeer(
            Self.gateway,
            role: .gateway,
            secret: Self.gatewaySecret,
            placement: gateway,
            link: gatewayLink,
            net: 2,
            logLevel: peerLogLevel
        )
    }

    private mutating func addPeer(
        _ name: String,
        role: NodeRole,
        secret: Bytes32,
        placement: Placement,
        link: LinkConditions,
        net: Int,
        logLevel: Logger.Level
    ) {
        let publicPrefix = net == 1 ? "198.51.100" : "192.0.2"
        let address: IPAddress
        var router: String?
        switch placement {
        case .publicInternet:
            address = IPAddress("\(publicPrefix).10")!
        case .behind(let nat):
            let routerName = "\(name)-nat"
            self.simulation.addRouter(routerName, publicAddresses: [IPAddress("\(publicPrefix).1")!], nat: nat)
            router = routerName
            address = IPAddress("10.0.\(net).2")!
        }
        let host = PeerHost(
            role: role,
            secret: secret,
            seed: &self.simulation.rng,
            sockets: [IPSocketAddress(address, port: 52625)],
            clock: self.simulation.clock,
            logger: self.logs.logger(label: name, level: logLevel)
        )
        self.simulation.addHost(name, addresses: [address], behind: router, link: link, node: host)
    }

    // MARK: Portal

    /// The relays every node uses, with credentials minted for each node, as the portal's `init` gives them.
    func turnServers(for host: String, relays: [String]? = nil) -> [TURNServer<String>] {
        (relays ?? self.relayNames).map { relay in
            let credentials = RelayNode.credentials(clock: self.simulation.clock, salt: "\(host)-\(relay)")
            let node = self.simulation.node(relay, as: RelayNode.self)
            return TURNServer(
                id: relay,
                socket: .v4(IPSocketAddress(node.addresses[0], port: RelayNode.listeningPort)),
                username: credentials.username,
                password: credentials.password,
                realm: "firezone"
            )
        }
    }

    /// Both nodes learn the relays and allocate.
    mutating func joinRelays() {
        for host in [Self.client, Self.gateway] {
            self.giveRelays(self.turnServers(for: host), removing: [], to: host)
        }
        self.run(for: .seconds(2))
    }

    /// Each node learns only its own relays (by name), as a portal that gives each device the relays nearest to it
    /// does, and allocates.
    mutating func joinRelays(client: [String], gateway: [String]) {
        self.giveRelays(self.turnServers(for: Self.client, relays: client), removing: [], to: Self.client)
        self.giveRelays(self.turnServers(for: Self.gateway, relays: gateway), removing: [], to: Self.gateway)
        self.run(for: .seconds(2))
    }

    /// The portal's relay update for `host` (its `init`, or a `relays_presence` message).
    mutating func giveRelays(_ servers: [TURNServer<String>], removing: [String], to host: String) {
        self.simulation.withNode(host, as: PeerHost.self) { peer, now in
            peer.audit.noteRelays(servers.flatMap(\.socket.addresses))
            peer.change { (node: inout PeerHost.SnownetNode) in
                node.updateRelays(removing: removing, adding: servers, now: now)
            }
        }
    }

    /// The portal's flow: the gateway authorizes the client, the client learns the gateway (with the keys the
    /// portal knows them by).
    mutating func connect(clientSecret: Bytes32 = Self.clientSecret, gatewaySecret: Bytes32 = Self.gatewaySecret) throws
    {
        try self.withPeer(Self.gateway) { node, now throws(NodeError) in
            try node.upsertConnection(
                Self.client,
                remoteKey: PeerHost.publicKey(of: clientSecret),
                presharedKey: Self.presharedKey,
                local: Self.gatewayCredentials,
                remote: Self.clientCredentials,
                now: now
            )
        }
        try self.withPeer(Self.client) { node, now throws(NodeError) in
            try node.upsertConnection(
                Self.gateway,
                remoteKey: PeerHost.publicKey(of: gatewaySecret),
                presharedKey: Self.presharedKey,
                local: Self.clientCredentials,
                remote: Self.gatewayCredentials,
                now: now
            )
        }
    }

    /// The gateway process restarts: a new node with a new key on the same address, which joins the relays again.
    mutating func restartGateway(secret: Bytes32) {
        let sockets = self.peer(Self.gateway).sockets
        let logger = self.logs.logger(label: "gateway (restarted)", level: .debug)
        var rng = self.simulation.rng
        let clock = self.simulation.clock
        self.simulation.withNode(Self.gateway, as: PeerHost.self) { host, _ in
            host = PeerHost(role: .gateway, secret: secret, seed: &rng, sockets: sockets, clock: clock, logger: logger)
        }
        self.simulation.rng = rng
        self.giveRelays(self.turnServers(for: "\(Self.gateway) (restarted)"), removing: [], to: Self.gateway)
    }

    /// The connection ID a host uses for its peer.
    static func peer(of host: String) -> String {
        host == Self.client ? Self.gateway : Self.client
    }

    /// Carries the candidate events of both nodes to the other side after ``signallingDelay``; delivers those due.
    private mutating func signal() {
        let now = self.simulation.now
        for host in [Self.client, Self.gateway] {
            let events = self.simulation.withNode(host, as: PeerHost.self) { host, _ in host.takeSignals() }
            for event in events {
                if event == .noRelays {
                    guard self.portalRestoresRelays else {
                        continue
                    }
                    // The node reconnects to the portal, whose `init` lists the relays again.
                    self.giveRelays(self.turnServers(for: host), removing: [], to: host)
                    continue
                }
                // The portal carries a connection's candidates to its peer; those of a connection to anyone else
                // go elsewhere.
                switch event {
                case .newIceCandidates(Self.peer(of: host), _), .invalidatedIceCandidates(Self.peer(of: host), _):
                    self.inTransit.append((now + self.signallingDelay, Self.peer(of: host), event))
                default:
                    continue
                }
            }
        }
        while let index = self.inTransit.firstIndex(where: { $0.arrival <= now }) {
            let (_, host, event) = self.inTransit.remove(at: index)
            let connection = Self.peer(of: host)
            if case .newIceCandidates = event, self.firstCandidatesDelivered[host] == nil {
                self.firstCandidatesDelivered[host] = now
            }
            self.simulation.withNode(host, as: PeerHost.self) { host, now in
                if case .newIceCandidates(_, let candidates) = event {
                    host.audit.noteSignalled(candidates)
                }
                // A connection the peer does not have (yet, or any more) ignores its candidates, as the portal's
                // messages for a gone connection are ignored.
                _ = try? host.change { (node: inout PeerHost.SnownetNode) throws(NodeError) in
                    switch event {
                    case .newIceCandidates(_, let candidates):
                        try node.addRemoteCandidates(candidates, for: connection, now: now)
                    case .invalidatedIceCandidates(_, let candidates):
                        for candidate in candidates {
                            try node.removeRemoteCandidate(candidate, for: connection, now: now)
                        }
                    default:
                        break
                    }
                }
            }
        }
    }

    // MARK: Running

    /// Changes `host`'s node (a portal message, a reset), then collects its events and transmits.
    @discardableResult
    mutating func withPeer<Value>(
        _ host: String,
        _ body: (inout PeerHost.SnownetNode, Instant) throws(NodeError) -> Value
    ) throws(NodeError) -> Value {
        var outcome: Result<Value, NodeError>?
        self.simulation.withNode(host, as: PeerHost.self) { host, now in
            do throws(NodeError) {
                outcome = .success(
                    try host.change { (node: inout PeerHost.SnownetNode) throws(NodeError) in try body(&node, now) }
                )
            } catch {
                outcome = .failure(error)
            }
        }
        return try outcome!.get()
    }

    /// ``withPeer(_:_:)`` for a change that cannot fail.
    mutating func update(_ host: String, _ body: (inout PeerHost.SnownetNode, Instant) -> Void) {
        self.simulation.withNode(host, as: PeerHost.self) { host, now in
            host.change { (node: inout PeerHost.SnownetNode) in body(&node, now) }
        }
    }

    func peer(_ host: String) -> PeerHost {
        self.simulation.node(host, as: PeerHost.self)
    }

    /// Runs the network and the portal for `duration`, or until `condition` holds; whether it held. The clock
    /// stops at the step where it first held.
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
            let stop = min(deadline, self.inTransit.map(\.arrival).min() ?? deadline)
            let interrupted = self.simulation.advance(for: stop - self.simulation.now) { simulation in
                condition(simulation) || simulation.node(Self.client, as: PeerHost.self).hasSignals
                    || simulation.node(Self.gateway, as: PeerHost.self).hasSignals
            }
            if !interrupted && self.simulation.now < stop {
                // Nothing happens before the stop: the clock jumps there.
                self.simulation.elapse(stop - self.simulation.now)
            }
        }
    }

    /// Whether both sides report the connection established.
    static func bothEstablished(_ simulation: Simulation) -> Bool {
        simulation.node(Self.client, as: PeerHost.self).node.isEstablished(Self.gateway)
            && simulation.node(Self.gateway, as: PeerHost.self).node.isEstablished(Self.client)
    }

    /// The trace and the logs, for a failure message.
    func report(seed: UInt64) -> String {
        "\(TestSeeds.replayHint(seed))\n\(self.simulation.report())\nclient events: \(self.peer(Self.client).events)\n"
            + "gateway events: \(self.peer(Self.gateway).events)\nclient errors: \(self.peer(Self.client).errors)\n"
            + "gateway errors: \(self.peer(Self.gateway).errors)"
    }

    // MARK: Traffic

    /// A UDP packet from the client's tunnel address to the resource, or back.
    static func packet(_ text: String, fromClient: Bool) -> IPPacket {
        let (source, destination) =
            fromClient
            ? (Self.clientTunnelAddress, Self.resourceAddress) : (Self.resourceAddress, Self.clientTunnelAddress)
        return try! IPPacket.makeUDP(
            source: source,
            sourcePort: 40000,
            destination: destination,
            destinationPort: 8080,
            payload: ByteBuffer(string: text)
        )
    }

    /// The client keeps sending, a packet every 100 ms as an active user does, until its connection fails or
    /// `limit` passes; whether it failed.
    mutating func clientSendsUntilItsConnectionFails(within limit: Duration) -> Bool {
        let deadline = self.simulation.now + limit
        var index = 0
        while self.simulation.now < deadline {
            let packet = Self.packet("are you there? \(index)", fromClient: true)
            index += 1
            self.simulation.withNode(Self.client, as: PeerHost.self) { host, now in
                _ = try? host.send(packet, to: Self.gateway, now: now)
            }
            if self.run(for: .milliseconds(100), until: Self.failed(Self.client)) {
                return true
            }
        }
        return false
    }

    /// Whether `host` reported a connection failed.
    static func failed(_ host: String) -> (Simulation) -> Bool {
        { simulation in
            simulation.node(host, as: PeerHost.self).events.contains {
                if case .connectionFailed = $0 { true } else { false }
            }
        }
    }

    /// Sends `count` packets each way, `spacing` apart, then waits a second; returns how many arrived each way.
    mutating func exchange(count: Int, spacing: Duration = .milliseconds(10)) -> (toGateway: Int, toClient: Int) {
        for host in [Self.client, Self.gateway] {
            self.simulation.withNode(host, as: PeerHost.self) { host, _ in host.clearDelivered() }
        }
        for index in 0..<count {
            for host in [Self.client, Self.gateway] {
                let packet = Self.packet("\(host) \(index)", fromClient: host == Self.client)
                self.simulation.withNode(host, as: PeerHost.self) { peer, now in
                    _ = try? peer.send(packet, to: Self.peer(of: host), now: now)
                }
            }
            self.run(for: spacing)
        }
        self.run(for: .seconds(1))
        func arrived(at host: String, from sender: String) -> Int {
            Set(
                self.peer(host).delivered.compactMap { delivered -> String? in
                    guard let packet = try? IPPacket(delivered.packet), packet.udp != nil else {
                        return nil
                    }
                    let text = String(buffer: packet.payload)
                    return text.hasPrefix(sender + " ") ? text : nil
                }
            ).count
        }
        return (arrived(at: Self.gateway, from: Self.client), arrived(at: Self.client, from: Self.gateway))
    }
}

extension PeerHost {
    var hasSignals: Bool {
        !self.signals.isEmpty
    }
}
