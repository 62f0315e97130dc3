import ConnlibCore
import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import PortalMessages
import SimulatedRelay
import Snownet
import WireGuard

/// The tunnel under test: a real ``ClientState`` and two real ``GatewayState``s (one per site of ``TunnelWorld``)
/// with one of our relays on a flat simulated network, the ``SimulatedPortal`` brokering their flows, a resource
/// host behind each gateway that echoes every ICMP echo, UDP datagram and TCP segment it gets, and the public DNS
/// of ``TunnelWorld`` answering the gateways' resolutions. Time is a ``FluxCapacitor``: every action runs the
/// nodes' timers and delivers every datagram until it settles.
struct SimulatedTunnel: TunnelSystem {
    static let clientID = ClientID("c0000000-0000-4000-8000-00000000000c")
    static let relayID = RelayID("f0000000-0000-4000-8000-0000000000f1")
    static let relayAddress = IPAddress.v4(IPv4Address(192, 0, 2, 100))
    static let gatewayAddresses = [IPAddress.v4(IPv4Address(192, 0, 2, 2)), IPAddress.v4(IPv4Address(192, 0, 2, 3))]
    static let gatewayTunnelIPs = [
        (IPv4Address(100, 64, 0, 2), IPv6Address("fd00:2021:1111::2")!),
        (IPv4Address(100, 64, 0, 3), IPv6Address("fd00:2021:1111::3")!),
    ]
    /// Long enough that flows never expire on their own within a sequence: only `.expireFlows` ends them.
    static let flowLifetime: UInt64 = 30 * 24 * 3600
    /// What every action is given to settle: more than the client's 2 s between two `create_flow` for a resource.
    static let settleTime = Duration.seconds(3)
    /// Longer than an idle connection takes to fail (one STUN check every 60 s, failed after 4 missing).
    static let failureTime = Duration.seconds(330)

    private var clock = FluxCapacitor()
    private var rng: SeededRandomNumberGenerator
    private var portal: SimulatedPortal
    private var client: ClientState
    private var clientSocket = IPSocketAddress(.v4(IPv4Address(192, 0, 2, 1)), port: 52625)
    private var gateways: [GatewayState] = []
    /// A new process binds a new port: the relay still holds the last one's allocation for the old 5-tuple.
    private var gatewaySockets = Self.gatewayAddresses.map { IPSocketAddress($0, port: 52625) }
    private var relay: RelayNode
    /// Added to the clock's Unix time on the gateways' and the portal's side: `.expireFlows` moves it past every
    /// flow's expiry without running the clock for a month.
    private var unixSkew = Duration.zero
    private var internetResourceActive = false
    /// While set, every datagram to or from the client is lost.
    private var clientPartitioned = false
    private var clientNeedsRelays = false
    /// What reached the client's TUN device since the action began.
    private var clientTun: [IPPacket] = []
    private var probeSequence: UInt16 = 0
    private var querySequence: UInt16 = 0
    /// The client's DNS sentinel for the system resolver, from its last TUN configuration.
    private var sentinel: IPAddress?
    private var trace: [String] = []

    init(seed: UInt64) {
        self.rng = SeededRandomNumberGenerator(seed: seed)
        let now = self.clock.now
        let logger = Logger(label: "simulated-tunnel", factory: { _ in SwiftLogNoOpLogHandler() })
        self.relay = RelayNode(addresses: [Self.relayAddress], seed: seed, clock: self.clock, logger: logger)
        let clientSecret = StaticSecret(Bytes32(self.rng.bytes(32))!)
        self.client = ClientState(
            secret: clientSecret,
            seed: Bytes32(self.rng.bytes(32))!,
            internetResourceActivated: false,
            logger: logger,
            unixTime: self.clock.unixTime,
            now: now
        )
        var portalGateways: [SimulatedPortal.Gateway] = []
        for index in TunnelWorld.gateways.indices {
            let gateway = GatewayState(
                secret: Self.gatewaySecret(index),
                seed: Bytes32(self.rng.bytes(32))!,
                logger: logger,
                now: now,
                unixTime: self.clock.unixTime
            )
            portalGateways.append(
                SimulatedPortal.Gateway(
                    id: TunnelWorld.gateways[index],
                    peer: SimulatedPortal.Peer(
                        publicKey: gateway.publicKey,
                        ipv4: Self.gatewayTunnelIPs[index].0,
                        ipv6: Self.gatewayTunnelIPs[index].1
                    ),
                    site: TunnelWorld.sites[index].id
                )
            )
            self.gateways.append(gateway)
        }
        self.portal = SimulatedPortal(
            clientID: Self.clientID,
            client: SimulatedPortal.Peer(
                publicKey: self.client.publicKey,
                ipv4: TunnelWorld.clientIPv4,
                ipv6: TunnelWorld.clientIPv6
            ),
            gateways: portalGateways,
            seed: seed
        )
        self.portal.flowLifetime = Self.flowLifetime
        self.portal.choosesFirstGateway = true
        for index in self.gateways.indices {
            self.joinGateway(index)
        }
        self.joinClient()
        self.run(for: Self.settleTime)
    }

    var report: String {
        (Array(self.trace.suffix(60)) + ["relay drops: \(self.relay.drops.suffix(5))"]
            + self.gateways.map { "gateway: \($0.nodeStats) \($0.stats)" } + ["client: \(self.client.stats)"])
            .joined(separator: "\n")
    }

    // MARK: Actions

    mutating func perform(_ action: TunnelAction) -> TunnelObservation {
        self.clientTun.removeAll()
        var settle = Self.settleTime
        switch action {
        case .upsertResource(let resource, let allowed):
            self.portal.upsertResource(resource, allowed: allowed)
        case .deleteResource(let id):
            self.portal.deleteResource(id)
        case .setInternetResourceActive(let active):
            self.internetResourceActive = active
            self.client.setInternetResourceActivated(active, now: self.clock.now)
        case .send(let destination, let transport):
            self.probeSequence &+= 1
            guard let packet = Self.probe(to: destination, transport, sequence: self.probeSequence) else {
                return .unexpected("no probe packet to \(destination)")
            }
            self.client.handleTunInput(packet, now: self.clock.now)
        case .query(let name, let ipv6, _):
            // Over UDP only: TCP DNS needs a user-space TCP stack (connlib's smoltcp) the client state does not have.
            guard let sentinel = self.sentinel else {
                return .unexpected("the client has no DNS sentinel")
            }
            self.querySequence &+= 1
            let query = DNSMessage.makeQuery(
                id: self.querySequence,
                question: DNSQuestion(name: name, type: ipv6 ? .aaaa : .a)
            )
            guard
                let packet = try? IPPacket.makeUDP(
                    source: TunnelWorld.clientIP(sentinel.version),
                    sourcePort: 50_000,
                    destination: sentinel,
                    destinationPort: 53,
                    payload: query
                )
            else {
                return .unexpected("no query packet to \(sentinel)")
            }
            self.client.handleTunInput(packet, now: self.clock.now)
        case .expireFlows:
            self.unixSkew += .seconds(Int64(Self.flowLifetime) + 1)
            self.portal.expireFlows(unixTime: self.unixSeconds)
        case .restartGateway(let id):
            let index = TunnelModel.gatewayIndex(id)
            // The same key (a gateway keeps its identity across restarts); every session is gone.
            let logger = Logger(label: "simulated-tunnel", factory: { _ in SwiftLogNoOpLogHandler() })
            self.gateways[index] = GatewayState(
                secret: Self.gatewaySecret(index),
                seed: Bytes32(self.rng.bytes(32))!,
                logger: logger,
                now: self.clock.now,
                unixTime: self.gatewayUnixTime
            )
            self.gatewaySockets[index].port &+= 1
            self.portal.setOnline(id, true)
            self.joinGateway(index)
            settle = Self.failureTime
        case .setGatewayOnline(let id, let online):
            self.portal.setOnline(id, online)
            if online {
                self.joinGateway(TunnelModel.gatewayIndex(id))
            }
        case .restartClient:
            self.client.shutDown(now: self.clock.now)
            self.deliver()
            // The records of the proxy addresses go to the next session of this process (Firezone #10104).
            let records = self.client.dnsRecords
            let logger = Logger(label: "simulated-tunnel", factory: { _ in SwiftLogNoOpLogHandler() })
            self.client = ClientState(
                secret: StaticSecret(Bytes32(self.rng.bytes(32))!),
                seed: Bytes32(self.rng.bytes(32))!,
                internetResourceActivated: self.internetResourceActive,
                dnsRecords: records,
                logger: logger,
                unixTime: self.clock.unixTime,
                now: self.clock.now
            )
            self.clientSocket.port &+= 1
            self.joinClient()
        case .connectionFailure:
            self.clientPartitioned = true
            self.run(for: Self.failureTime)
            self.clientPartitioned = false
            self.deliver()
        case .roam:
            self.clientSocket = IPSocketAddress(
                .v4(IPv4Address(192, 0, 2, 10 &+ UInt8(truncatingIfNeeded: self.trace.count % 200))),
                port: 52625
            )
            self.client.reset(secret: StaticSecret(Bytes32(self.rng.bytes(32))!), now: self.clock.now)
            self.joinClient()
        case .idle(let duration):
            settle = max(settle, duration)
        }
        self.run(for: settle)
        let observation = self.observation(after: action)
        self.trace.append("\(self.clock.now): \(action) → \(observation)")
        return observation
    }

    /// The one packet the client's TUN device got, as the application sees it.
    private func observation(after action: TunnelAction) -> TunnelObservation {
        guard let packet = self.clientTun.first else {
            return .nothing
        }
        guard self.clientTun.count == 1 else {
            return .unexpected("\(self.clientTun.count) packets: \(self.clientTun.map(Self.describe))")
        }
        if case .query = action {
            return Self.answer(in: packet)
        }
        guard case .send(let destination, let transport) = action else {
            return .unexpected("a packet after \(action): \(Self.describe(packet))")
        }
        guard packet.destination == TunnelWorld.clientIP(destination.version) else {
            return .unexpected("a packet not for the client: \(Self.describe(packet))")
        }
        if let (error, failed) = try? packet.icmpError() {
            guard failed.destination == destination, packet.source == destination else {
                return .unexpected("an ICMP error about another packet: \(Self.describe(packet))")
            }
            switch error {
            case .v4Unreachable(code: 13), .v6Unreachable(code: 1): return .packet(.prohibited(from: packet.source))
            case .v4Unreachable(code: 0), .v6Unreachable(code: 3): return .packet(.unreachable(from: packet.source))
            default: return .unexpected("ICMP error \(error)")
            }
        }
        guard packet.source == destination, (try? packet.sourceProtocol()) == transport else {
            return .unexpected("not the echo of the probe: \(Self.describe(packet))")
        }
        return .packet(.reply(from: packet.source))
    }

    // MARK: Packets

    /// The DNS answer a packet from the sentinel carries.
    static func answer(in packet: IPPacket) -> TunnelObservation {
        guard packet.udp?.sourcePort == 53, let message = try? DNSMessage(parsingResponse: packet.payload) else {
            return .unexpected("no DNS answer: \(Self.describe(packet))")
        }
        switch message.responseCode {
        case .noError: return .answer(.addresses(message.answerAddresses))
        case .nameError: return .answer(.nxdomain)
        case .serverFailure: return .answer(.servfail)
        default: return .unexpected("DNS response code \(message.responseCode)")
        }
    }

    /// The public DNS's answer to a query the client recurses (``TunnelWorld/names``; NXDOMAIN for any other).
    static func upstreamAnswer(to query: ByteBuffer) -> ByteBuffer? {
        guard let message = try? DNSMessage(parsingQuery: query), let question = message.question else {
            return nil
        }
        let version: IPVersion = question.type == .aaaa ? .v6 : .v4
        guard let records = TunnelWorld.records(of: question.name, version) else {
            return message.makeResponse(code: .nameError)
        }
        return message.makeResponse(code: .noError, answers: records.map { .address($0) }, ttl: 60)
    }

    static func probe(to destination: IPAddress, _ transport: TransportProtocol, sequence: UInt16) -> IPPacket? {
        let source = TunnelWorld.clientIP(destination.version)
        var payload = ByteBuffer()
        payload.writeString("probe \(sequence)")
        switch transport {
        case .icmpEcho(let identifier):
            return try? IPPacket.makeICMPEchoRequest(
                source: source,
                destination: destination,
                identifier: identifier,
                sequenceNumber: sequence,
                payload: payload
            )
        case .udp(let port):
            return try? IPPacket.makeUDP(
                source: source,
                sourcePort: 40_000,
                destination: destination,
                destinationPort: port,
                payload: payload
            )
        case .tcp(let port):
            return try? IPPacket.makeTCP(
                source: source,
                sourcePort: 40_000,
                destination: destination,
                destinationPort: port,
                sequenceNumber: UInt32(sequence),
                flags: .syn
            )
        }
    }

    /// The resource host's answer to what the gateway wrote to its TUN device: the same payload back, ports
    /// swapped, an echo reply for an echo request.
    static func echo(_ packet: IPPacket) -> IPPacket? {
        if let udp = packet.udp {
            return try? IPPacket.makeUDP(
                source: packet.destination,
                sourcePort: udp.destinationPort,
                destination: packet.source,
                destinationPort: udp.sourcePort,
                payload: packet.payload
            )
        }
        if let tcp = packet.tcp {
            return try? IPPacket.makeTCP(
                source: packet.destination,
                sourcePort: tcp.destinationPort,
                destination: packet.source,
                destinationPort: tcp.sourcePort,
                sequenceNumber: 1,
                acknowledgmentNumber: tcp.sequenceNumber &+ 1,
                flags: [.syn, .ack]
            )
        }
        if case .icmpEcho(let identifier) = try? packet.sourceProtocol(), let icmp = packet.icmp,
            icmp.type == ICMPHeader.v4EchoRequest || icmp.type == ICMPHeader.v6EchoRequest
        {
            return try? IPPacket.makeICMPEchoReply(
                source: packet.destination,
                destination: packet.source,
                identifier: identifier,
                sequenceNumber: 0,
                payload: packet.payload
            )
        }
        return nil
    }

    static func describe(_ packet: IPPacket) -> String {
        let transport = (try? packet.destinationProtocol()).map { "\($0)" } ?? "\(packet.ipProtocol)"
        return "\(packet.source) → \(packet.destination) \(transport)"
    }

    // MARK: Portal

    private var unixSeconds: UInt64 {
        UInt64((self.clock.unixTime + self.unixSkew).wholeSeconds)
    }

    private var gatewayUnixTime: Duration {
        self.clock.unixTime + self.unixSkew
    }

    /// A gateway's key, the same across its restarts.
    static func gatewaySecret(_ index: Int) -> StaticSecret {
        var generator = SeededRandomNumberGenerator(seed: 0x6761_7465 &+ UInt64(index))
        return StaticSecret(Bytes32(generator.bytes(32))!)
    }

    /// The relay keeps one allocation per username: every process (and every socket of one) gets its own salt.
    private func relays(salt: String) -> [RelayEntry] {
        let credentials = RelayNode.credentials(clock: self.clock, salt: salt)
        return [
            .turn(
                TurnRelay(
                    id: Self.relayID,
                    address: IPSocketAddress(Self.relayAddress, port: RelayNode.listeningPort),
                    username: credentials.username,
                    password: credentials.password,
                    expiresAt: UInt64(self.clock.unixTime.wholeSeconds) + 24 * 3600
                )
            )
        ]
    }

    private mutating func joinGateway(_ index: Int) {
        let initialize = self.portal.gatewayInit(
            TunnelWorld.gateways[index],
            relays: self.relays(salt: "gateway-\(index)-\(self.gatewaySockets[index].port)")
        )
        self.gateways[index].handlePortalEvent(.initialize(initialize), now: self.clock.now)
    }

    /// The client (re)connects to the portal: the portal learns its key and sends `init`.
    private mutating func joinClient() {
        self.portal.client.publicKey = self.client.publicKey
        let interface = ClientInterface(
            ipv4: TunnelWorld.clientIPv4,
            ipv6: TunnelWorld.clientIPv6,
            upstreamDNS: [],
            searchDomain: nil
        )
        self.client.updateSystemResolvers([TunnelWorld.upstreamDNS], now: self.clock.now)
        let initialize = self.portal.clientInit(
            interface: interface,
            relays: self.relays(salt: "client-\(self.clientSocket)")
        )
        self.client.handlePortalEvent(.initialize(initialize), now: self.clock.now)
    }

    // MARK: Network

    /// Runs every node's timers and delivers every datagram and portal message for `duration` of simulated time.
    private mutating func run(for duration: Duration) {
        let end = self.clock.now + duration
        self.deliver()
        while true {
            let deadlines =
                [self.client.pollTimeout()?.deadline, self.relay.pollTimeout()]
                + self.gateways.map { $0.pollTimeout()?.deadline }
            guard let next = deadlines.compactMap({ $0 }).min(), next <= end else {
                break
            }
            self.clock.advance(to: max(next, self.clock.now))
            let now = self.clock.now
            if let deadline = self.client.pollTimeout()?.deadline, deadline <= now {
                self.client.handleTimeout(now: now)
            }
            for index in self.gateways.indices {
                if let deadline = self.gateways[index].pollTimeout()?.deadline, deadline <= now {
                    self.gateways[index].handleTimeout(now: now, unixTime: self.gatewayUnixTime)
                }
            }
            if let deadline = self.relay.pollTimeout(), deadline <= now {
                self.relay.handleTimeout(now: now, unixTime: self.clock.unixTime)
            }
            self.deliver()
        }
        self.clock.advance(to: end)
    }

    /// Drains every output until nothing moves.
    private mutating func deliver() {
        var moved = true
        while moved {
            moved = false
            let now = self.clock.now
            while let transmit = self.client.pollTransmit() {
                moved = true
                self.route(from: transmit.source ?? self.clientSocket, to: transmit.destination, transmit.payload)
            }
            for index in self.gateways.indices {
                while let transmit = self.gateways[index].pollTransmit() {
                    moved = true
                    let source = transmit.source ?? self.gatewaySockets[index]
                    self.route(from: source, to: transmit.destination, transmit.payload)
                }
                while let event = self.gateways[index].pollEvent() {
                    moved = true
                    switch event {
                    case .portal(let message):
                        if case .flowAuthorized = message {
                            self.trace.append("\(now): \(TunnelWorld.gateways[index]) flow_authorized")
                        }
                        self.portal.handle(message, from: TunnelWorld.gateways[index])
                    case .resolveDNS(let request):
                        let addresses = TunnelWorld.names.first { $0.name == request.domain }?.records
                        self.gateways[index].handleDomainResolved(request, addresses: addresses, now: now)
                    case .noRelays:
                        self.trace.append("\(now): \(TunnelWorld.gateways[index]) rejoins the portal for relays")
                        self.joinGateway(index)
                    case .tunInterfaceUpdated:
                        break
                    }
                }
            }
            while let transmit = self.relay.pollTransmit(now: now) {
                moved = true
                self.route(from: transmit.source, to: transmit.destination, transmit.payload)
            }
            while let query = self.client.pollDNSQuery() {
                moved = true
                if let answer = Self.upstreamAnswer(to: query.query) {
                    self.client.handleDNSResponse(query, result: .success(answer), now: now)
                }
            }
            while let message = self.client.pollPortalMessage() {
                moved = true
                if case .createFlow(let request) = message {
                    self.trace.append("\(now): client create_flow \(request.resourceID)")
                }
                self.portal.handle(message, unixTime: self.unixSeconds)
            }
            while let delivery = self.portal.pollDelivery() {
                moved = true
                switch delivery {
                case .toClient(.flowCreated(let flow)):
                    self.trace.append("\(now): portal flow_created \(flow.resourceID) via \(flow.gatewayID)")
                    self.client.handlePortalEvent(.flowCreated(flow), now: now)
                case .toClient(.flowCreationFailed(let failure)):
                    self.trace.append("\(now): portal flow_creation_failed \(failure.resourceID) \(failure.reason)")
                    self.client.handlePortalEvent(.flowCreationFailed(failure), now: now)
                case .toClient(let event):
                    self.client.handlePortalEvent(event, now: now)
                case .toGateway(let id, let event):
                    self.gateways[TunnelModel.gatewayIndex(id)].handlePortalEvent(event, now: now)
                }
            }
            while let event = self.client.pollEvent() {
                moved = true
                if case .tunInterfaceUpdated(let config) = event {
                    self.sentinel = config.dnsBySentinel.first { $0.sentinel.version == .v4 }?.sentinel
                }
                if case .noRelays = event {
                    // The shell reconnects to the portal for a fresh `init` with relays (Firezone 685acdac3a has no
                    // `no_relays` message); the portal is out of reach while the client's network is down.
                    self.clientNeedsRelays = true
                }
            }
            if self.clientNeedsRelays && !self.clientPartitioned {
                self.clientNeedsRelays = false
                self.trace.append("\(now): client rejoins the portal for relays")
                self.joinClient()
                moved = true
            }
            while let packet = self.client.pollTunWrite() {
                moved = true
                self.clientTun.append(packet)
            }
        }
    }

    private mutating func route(from source: IPSocketAddress, to destination: IPSocketAddress, _ payload: ByteBuffer) {
        let now = self.clock.now
        if self.clientPartitioned && (source == self.clientSocket || destination == self.clientSocket) {
            return
        }
        if destination.address == Self.relayAddress {
            self.relay.handleDatagram(payload, from: source, to: destination, now: now)
        } else if destination == self.clientSocket {
            var datagram = payload
            if let packet = self.client.handleNetworkInput(&datagram, from: source, local: destination, now: now) {
                self.clientTun.append(packet)
            }
        } else if let index = self.gatewaySockets.firstIndex(of: destination) {
            guard
                let packet = self.gateways[index].handleNetworkInput(
                    payload,
                    from: source,
                    local: destination,
                    now: now
                )
            else {
                return
            }
            if let reply = Self.echo(packet) {
                self.gateways[index].handleTUNInput(reply, now: now)
            }
        }
    }
}
