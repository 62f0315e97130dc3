import ConnlibCore
import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import PortalMessages
import SimulatedConnlib
import SimulatedRelay
import Snownet
import WireGuard

/// The tunnel under test: a real ``ClientState`` and two real ``GatewayState``s (one per site of ``TunnelWorld``)
/// with one of our relays on a ``Simulation``, the ``SimulatedPortal`` brokering their flows, a resource host behind
/// each gateway that echoes every ICMP echo, UDP datagram and TCP segment it gets, and the public DNS of
/// ``TunnelWorld`` answering the gateways' resolutions. The relay is on the public internet; the client and each
/// gateway sit on it or behind a NAT router whose kind the seed draws (``HostPlacement``), each on an access link of
/// a seeded latency. Every action runs the simulation until it settles.
struct SimulatedTunnel: TunnelSystem {
    static let clientID = ClientID("c0000000-0000-4000-8000-00000000000c")
    static let relayID = RelayID("f0000000-0000-4000-8000-0000000000f1")
    static let relayAddress = IPAddress.v4(IPv4Address(203, 0, 113, 1))
    static let gatewayTunnelIPs = [
        (IPv4Address(100, 64, 0, 2), IPv6Address("fd00:2021:1111::2")!),
        (IPv4Address(100, 64, 0, 3), IPv6Address("fd00:2021:1111::3")!),
    ]
    static let client = "client"
    static let relay = "relay"
    static let gatewayHosts = ["gateway-a", "gateway-b"]
    static let port: UInt16 = 52625
    /// Long enough that flows never expire on their own within a sequence: only `.expireFlows` ends them.
    static let flowLifetime: UInt64 = 30 * 24 * 3600
    /// What every action is given to settle: more than the client's 2 s between two `create_flow` for a resource.
    static let settleTime = Duration.seconds(3)
    /// Longer than an idle connection takes to fail (one STUN check every 60 s, failed after 4 missing).
    static let failureTime = Duration.seconds(330)
    /// The access links' one-way latency is drawn from this range; no loss, so that every step settles.
    static let latencies = 2...40

    private var simulation: Simulation
    private var rng: SeededRandomNumberGenerator
    private var portal: SimulatedPortal
    private var clientLink: LinkConditions
    /// Where the client sits now (it changes on every roam) and where each gateway sits.
    private var clientPlacement: HostPlacement
    private let gatewayPlacements: [HostPlacement]
    /// How many networks the client has joined: each roam is a new one.
    private var clientNetworks = 0
    private var internetResourceActive = false
    private var portalUpstream = false
    /// While set, every datagram to or from the client is lost and the portal is out of its reach.
    private var clientPartitioned = false
    private var clientNeedsRelays = false
    private var probeSequence: UInt16 = 0
    private var querySequence: UInt16 = 0
    /// The client's DNS sentinel for the system resolver, from its last TUN configuration.
    private var sentinel: IPAddress?
    private var trace: [String] = []
    /// The ports of TCP queries the application gave up on (an ICMP error, no answer): what the stub still sends on
    /// those connections is no step's observation.
    private var abandonedTCPQueries: [UInt16] = []

    /// `placements` (client, then each gateway) replaces the seed's draw, for a test that needs a topology.
    init(seed: UInt64, placements: [HostPlacement]? = nil) {
        self.simulation = Simulation(seed: seed)
        self.rng = SeededRandomNumberGenerator(seed: seed)
        let logger = Self.logger
        let now = self.simulation.now
        let relay = RelayNode(addresses: [Self.relayAddress], seed: seed, clock: self.simulation.clock, logger: logger)
        self.simulation.addHost(Self.relay, addresses: [Self.relayAddress], link: Self.drawLink(&self.rng), node: relay)
        var drawn: [HostPlacement] = []
        for _ in 0...TunnelWorld.gateways.count {
            drawn.append(HostPlacement.random(using: &self.rng))
        }
        let chosen = placements ?? drawn
        self.clientPlacement = chosen[0]
        self.gatewayPlacements = Array(chosen.dropFirst())
        self.clientLink = Self.drawLink(&self.rng)
        var portalGateways: [SimulatedPortal.Gateway] = []
        for index in TunnelWorld.gateways.indices {
            let state = GatewayState(
                secret: Self.gatewaySecret(index),
                seed: Bytes32(self.rng.bytes(32))!,
                logger: logger,
                now: now,
                unixTime: self.simulation.clock.unixTime
            )
            portalGateways.append(
                SimulatedPortal.Gateway(
                    id: TunnelWorld.gateways[index],
                    peer: SimulatedPortal.Peer(
                        publicKey: state.publicKey,
                        ipv4: Self.gatewayTunnelIPs[index].0,
                        ipv6: Self.gatewayTunnelIPs[index].1
                    ),
                    site: TunnelWorld.sites[index].id
                )
            )
            let (address, router) = Self.place(
                Self.gatewayHosts[index],
                self.gatewayPlacements[index],
                publicAddress: .v4(IPv4Address(192, 0, 2, UInt8(2 + index))),
                privateAddress: .v4(IPv4Address(10, 0, UInt8(2 + index), 2)),
                on: &self.simulation
            )
            self.simulation.addHost(
                Self.gatewayHosts[index],
                addresses: [address],
                behind: router,
                link: Self.drawLink(&self.rng),
                node: SimulatedGatewayHost(
                    state: state,
                    socket: IPSocketAddress(address, port: Self.port),
                    site: { Self.siteAnswer(to: $0, gateway: index) }
                )
            )
        }
        let client = ClientState(
            secret: StaticSecret(Bytes32(self.rng.bytes(32))!),
            seed: Bytes32(self.rng.bytes(32))!,
            internetResourceActivated: false,
            logger: logger,
            unixTime: self.simulation.clock.unixTime,
            now: now
        )
        self.portal = SimulatedPortal(
            clientID: Self.clientID,
            client: SimulatedPortal.Peer(
                publicKey: client.publicKey,
                ipv4: TunnelWorld.clientIPv4,
                ipv6: TunnelWorld.clientIPv6
            ),
            gateways: portalGateways,
            seed: seed
        )
        self.portal.flowLifetime = Self.flowLifetime
        self.portal.choosesFirstGateway = true
        let (address, router) = self.placeClient()
        self.simulation.addHost(
            Self.client,
            addresses: [address],
            behind: router,
            link: self.clientLink,
            node: SimulatedClientHost(state: client, socket: IPSocketAddress(address, port: Self.port))
        )
        for index in TunnelWorld.gateways.indices {
            self.joinGateway(index)
        }
        self.joinClient()
        self.run(for: Self.settleTime)
    }

    private static var logger: Logger {
        Logger(label: "simulated-tunnel", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    private static func drawLink(_ rng: inout SeededRandomNumberGenerator) -> LinkConditions {
        LinkConditions(latency: .milliseconds(Int.random(in: Self.latencies, using: &rng)))
    }

    /// A host's address and router for `placement`: the public address itself, or a private one behind a new
    /// router that owns the public address.
    private static func place(
        _ name: String,
        _ placement: HostPlacement,
        publicAddress: IPAddress,
        privateAddress: IPAddress,
        on simulation: inout Simulation
    ) -> (IPAddress, router: String?) {
        guard let nat = placement.nat else {
            return (publicAddress, nil)
        }
        let router = "\(name)-nat"
        simulation.addRouter(router, publicAddresses: [publicAddress], nat: nat)
        return (privateAddress, router)
    }

    /// The client's address and router on its current network (the n-th it joined).
    private mutating func placeClient() -> (IPAddress, router: String?) {
        let network = UInt8(truncatingIfNeeded: self.clientNetworks)
        return Self.place(
            "client-network-\(self.clientNetworks)",
            self.clientPlacement,
            publicAddress: .v4(IPv4Address(198, 51, 100, 1 &+ network)),
            privateAddress: .v4(IPv4Address(10, 1, network, 2)),
            on: &self.simulation
        )
    }

    var report: String {
        let placements =
            ["client: \(self.clientPlacement) (network \(self.clientNetworks))"]
            + Self.gatewayHosts.indices.map { "\(Self.gatewayHosts[$0]): \(self.gatewayPlacements[$0])" }
        let gateways = Self.gatewayHosts.map { self.simulation.node($0, as: SimulatedGatewayHost.self).state }
        return
            (["placements: " + placements.joined(separator: ", ")] + Array(self.trace.suffix(60))
            + ["relay drops: \(self.simulation.node(Self.relay, as: RelayNode.self).drops.suffix(5))"]
            + gateways.map { "gateway: \($0.nodeStats) \($0.stats)" } + ["client: \(self.clientState.stats)"]
            + ["network (last datagrams):", self.simulation.report(lastEntries: 30)])
            .joined(separator: "\n")
    }

    private var clientState: ClientState {
        self.simulation.node(Self.client, as: SimulatedClientHost.self).state
    }

    private mutating func withClient<Result>(_ body: (inout ClientState, Instant) -> Result) -> Result {
        self.simulation.withNode(Self.client, as: SimulatedClientHost.self) { host, now in
            host.change { body(&$0, now) }
        }
    }

    /// A packet from an application into the client's TUN device, and what the client wrote back at once.
    private mutating func tunExchange(_ packet: IPPacket) -> [IPPacket] {
        self.withClient { $0.handleTunInput(packet, now: $1) }
        return self.simulation.withNode(Self.client, as: SimulatedClientHost.self) { host, _ in
            defer { host.tun.removeAll() }
            return host.tun
        }
    }

    private mutating func withGateway<Result>(_ index: Int, _ body: (inout GatewayState, Instant) -> Result) -> Result {
        self.simulation.withNode(Self.gatewayHosts[index], as: SimulatedGatewayHost.self) { host, now in
            host.change { body(&$0, now) }
        }
    }

    // MARK: Actions

    mutating func perform(_ action: TunnelAction) -> TunnelObservation {
        self.simulation.withNode(Self.client, as: SimulatedClientHost.self) { host, _ in host.tun.removeAll() }
        var settle = Self.settleTime
        var tcpQuery: SimulatedTCPQuery?
        var tcpPort: UInt16 = 0
        switch action {
        case .upsertResource(let resource, let allowed):
            self.portal.upsertResource(resource, allowed: allowed)
        case .deleteResource(let id):
            self.portal.deleteResource(id)
        case .setInternetResourceActive(let active):
            self.internetResourceActive = active
            self.withClient { $0.setInternetResourceActivated(active, now: $1) }
        case .send(let destination, let transport):
            self.probeSequence &+= 1
            guard let packet = Self.probe(to: destination, transport, sequence: self.probeSequence) else {
                return .unexpected("no probe packet to \(destination)")
            }
            self.withClient { $0.handleTunInput(packet, now: $1) }
        case .query(let name, let ipv6, let tcp):
            guard let sentinel = self.sentinel else {
                return .unexpected("the client has no DNS sentinel")
            }
            self.querySequence &+= 1
            let query = DNSMessage.makeQuery(
                id: self.querySequence,
                question: DNSQuestion(name: name, type: ipv6 ? .aaaa : .a)
            )
            if tcp {
                tcpPort = 40_000 &+ self.querySequence
                let client = IPSocketAddress(TunnelWorld.clientIP(sentinel.version), port: tcpPort)
                var exchange = SimulatedTCPQuery(from: client, to: sentinel)
                if let failure = exchange.open(query: query, exchange: { self.tunExchange($0) }) {
                    return .unexpected("DNS over TCP: \(failure)")
                }
                tcpQuery = exchange
                break
            }
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
            self.withClient { $0.handleTunInput(packet, now: $1) }
        case .reverseQuery(let address):
            guard let sentinel = self.sentinel, let name = Self.reverseName(of: address),
                let packet = self.queryPacket(name, .ptr, to: sentinel, port: 53)
            else {
                return .unexpected("no PTR query for \(address)")
            }
            self.withClient { $0.handleTunInput(packet, now: $1) }
        case .recordQuery(let name, let type):
            guard let sentinel = self.sentinel, let packet = self.queryPacket(name, type, to: sentinel, port: 53) else {
                return .unexpected("no \(type) query for \(name)")
            }
            self.withClient { $0.handleTunInput(packet, now: $1) }
        case .llmnrQuery(let name):
            guard let packet = self.queryPacket(name, .a, to: AddressPlan.llmnrV4, port: AddressPlan.llmnrPort)
            else {
                return .unexpected("no LLMNR query for \(name)")
            }
            self.withClient { $0.handleTunInput(packet, now: $1) }
        case .setPortalUpstream(let set):
            self.portalUpstream = set
            let interface = self.interface
            self.withClient { $0.handlePortalEvent(.configChanged(ConfigChanged(interface: interface)), now: $1) }
        case .extendFlows:
            self.portal.extendFlows(to: self.unixSeconds + 2 * Self.flowLifetime + 2)
        case .expireFlows:
            let skew = Duration.seconds(Int64(Self.flowLifetime) + 1)
            for host in Self.gatewayHosts {
                self.simulation.withNode(host, as: SimulatedGatewayHost.self) { gateway, _ in gateway.unixSkew += skew }
            }
            self.portal.expireFlows(unixTime: self.unixSeconds)
        case .restartGateway(let id):
            let index = TunnelModel.gatewayIndex(id)
            // The same key (a gateway keeps its identity across restarts); every session is gone, and the new
            // process binds a new port: the relay still holds the last one's allocation for the old 5-tuple.
            let seed = Bytes32(self.rng.bytes(32))!
            let unixTime = self.simulation.clock.unixTime
            self.simulation.withNode(Self.gatewayHosts[index], as: SimulatedGatewayHost.self) { host, now in
                host.state = GatewayState(
                    secret: Self.gatewaySecret(index),
                    seed: seed,
                    logger: Self.logger,
                    now: now,
                    unixTime: unixTime + host.unixSkew
                )
                host.socket.port &+= 1
            }
            self.portal.setOnline(id, true)
            self.joinGateway(index)
            settle = Self.failureTime
        case .setGatewayOnline(let id, let online):
            self.portal.setOnline(id, online)
            if online {
                self.joinGateway(TunnelModel.gatewayIndex(id))
            }
        case .restartClient:
            self.withClient { $0.shutDown(now: $1) }
            self.pump()
            // The records of the proxy addresses go to the next session of this process (Firezone #10104).
            let records = self.clientState.dnsRecords
            let secret = StaticSecret(Bytes32(self.rng.bytes(32))!)
            let seed = Bytes32(self.rng.bytes(32))!
            let active = self.internetResourceActive
            let unixTime = self.simulation.clock.unixTime
            self.simulation.withNode(Self.client, as: SimulatedClientHost.self) { host, now in
                host.state = ClientState(
                    secret: secret,
                    seed: seed,
                    internetResourceActivated: active,
                    dnsRecords: records,
                    logger: Self.logger,
                    unixTime: unixTime,
                    now: now
                )
                host.socket.port &+= 1
            }
            self.joinClient()
        case .connectionFailure:
            self.clientPartitioned = true
            self.simulation.setLink(of: Self.client, to: LinkConditions(loss: 1))
            self.run(for: Self.failureTime)
            self.clientPartitioned = false
            self.simulation.setLink(of: Self.client, to: self.clientLink)
        case .roam:
            // A new network, perhaps behind another kind of NAT: new address, connections reset.
            self.clientNetworks += 1
            self.clientPlacement = HostPlacement.random(using: &self.rng)
            let (address, router) = self.placeClient()
            self.simulation.move(Self.client, to: [address], behind: router)
            let secret = StaticSecret(Bytes32(self.rng.bytes(32))!)
            self.simulation.withNode(Self.client, as: SimulatedClientHost.self) { host, now in
                host.socket = IPSocketAddress(address, port: Self.port)
                host.change { $0.reset(secret: secret, now: now) }
            }
            self.joinClient()
        case .idle(let duration):
            settle = max(settle, duration)
        }
        self.run(for: settle)
        let observation: TunnelObservation
        let tun = self.clientTun
        if tcpQuery != nil, tun.count == 1, let (error, _) = try? tun[0].icmpError() {
            // A query recursed through the tunnel travels as UDP whatever the application used, and may get the
            // ICMP error that packet got on the way.
            observation = Self.describeError(error, from: tun[0].source)
            self.abandonedTCPQueries.append(tcpPort)
        } else if let tcpQuery, tcpQuery.isWaiting, tun.isEmpty {
            // The stub has not answered (an unanswered recursion): the application is still waiting, as over UDP.
            observation = .nothing
            self.abandonedTCPQueries.append(tcpPort)
        } else if var tcpQuery {
            switch tcpQuery.finish(tun: tun, exchange: { self.tunExchange($0) }) {
            case .success(let answer): observation = Self.answer(message: answer)
            case .failure(let failure): observation = .unexpected("DNS over TCP: \(failure)")
            }
        } else {
            observation = self.observation(after: action)
        }
        self.trace.append("\(self.simulation.now): \(action) → \(observation)")
        return observation
    }

    /// What reached the client's TUN device in this step, less segments of abandoned TCP queries.
    private var clientTun: [IPPacket] {
        self.simulation.node(Self.client, as: SimulatedClientHost.self).tun.filter { packet in
            guard let tcp = packet.tcp, tcp.sourcePort == 53 else {
                return true
            }
            return !self.abandonedTCPQueries.contains(tcp.destinationPort)
        }
    }

    /// The one packet the client's TUN device got, as the application sees it.
    private func observation(after action: TunnelAction) -> TunnelObservation {
        let tun = self.clientTun
        guard let packet = tun.first else {
            return .nothing
        }
        guard tun.count == 1 else {
            return .unexpected("\(tun.count) packets: \(tun.map(Self.describe))")
        }
        switch action {
        case .query, .reverseQuery, .recordQuery:
            // A query recursed through the tunnel may get the ICMP error its packet got on the way.
            if let (error, _) = try? packet.icmpError() {
                return Self.describeError(error, from: packet.source)
            }
            return Self.answer(in: packet, port: 53)
        case .llmnrQuery: return Self.answer(in: packet, port: AddressPlan.llmnrPort)
        default: break
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
            return Self.describeError(error, from: packet.source)
        }
        guard packet.source == destination, (try? packet.sourceProtocol()) == transport else {
            return .unexpected("not the echo of the probe: \(Self.describe(packet))")
        }
        return .packet(.reply(from: packet.source))
    }

    // MARK: Packets

    /// An ICMP error as the application sees it.
    static func describeError(_ error: ICMPError, from source: IPAddress) -> TunnelObservation {
        switch error {
        case .v4Unreachable(code: 13), .v6Unreachable(code: 1): .packet(.prohibited(from: source))
        case .v4Unreachable(code: 0), .v6Unreachable(code: 3): .packet(.unreachable(from: source))
        default: .unexpected("ICMP error \(error)")
        }
    }

    /// The DNS answer a packet from the sentinel's `port` carries.
    static func answer(in packet: IPPacket, port: UInt16) -> TunnelObservation {
        guard packet.udp?.sourcePort == port else {
            return .unexpected("no DNS answer: \(Self.describe(packet))")
        }
        return Self.answer(message: packet.payload)
    }

    /// What a DNS answer tells the application.
    static func answer(message bytes: ByteBuffer) -> TunnelObservation {
        guard let message = try? DNSMessage(parsingResponse: bytes) else {
            return .unexpected("no DNS answer: \(bytes.readableBytes) bytes")
        }
        switch message.responseCode {
        case .noError:
            let names = message.answers.filter { $0.type == .ptr }.map { Self.pointerName($0.data) }
            guard names.isEmpty else {
                let parsed = names.compactMap { $0 }
                return parsed.count == names.count ? .answer(.names(parsed)) : .unexpected("a malformed PTR answer")
            }
            let records = message.answers.filter { $0.type == .srv || $0.type == .txt }.map(Self.describeRecord)
            guard records.isEmpty else {
                let parsed = records.compactMap { $0 }
                return parsed.count == records.count ? .answer(.records(parsed)) : .unexpected("a malformed record")
            }
            return .answer(.addresses(message.answerAddresses))
        case .nameError: return .answer(.nxdomain)
        case .serverFailure: return .answer(.servfail)
        default: return .unexpected("DNS response code \(message.responseCode)")
        }
    }

    /// The public DNS's answer to a query the client recurses (``TunnelWorld/names``, which have A and AAAA records
    /// only; NXDOMAIN for any other name, reverse names included).
    static func upstreamAnswer(to query: ByteBuffer) -> ByteBuffer? {
        guard let message = try? DNSMessage(parsingQuery: query), let question = message.question else {
            return nil
        }
        guard let version: IPVersion = question.type == .a ? .v4 : question.type == .aaaa ? .v6 : nil else {
            return message.makeResponse(
                code: TunnelWorld.records(of: question.name, .v4) == nil ? .nameError : .noError
            )
        }
        guard let records = TunnelWorld.records(of: question.name, version) else {
            return message.makeResponse(code: .nameError)
        }
        return message.makeResponse(code: .noError, answers: records.map { .address($0) }, ttl: 60)
    }

    /// A UDP query for `name`'s `type` records from the client's TUN address of the server's family.
    private mutating func queryPacket(
        _ name: DomainName,
        _ type: DNSRecordType,
        to server: IPAddress,
        port: UInt16
    )
        -> IPPacket?
    {
        self.querySequence &+= 1
        return try? IPPacket.makeUDP(
            source: TunnelWorld.clientIP(server.version),
            sourcePort: 50_001,
            destination: server,
            destinationPort: port,
            payload: DNSMessage.makeQuery(id: self.querySequence, question: DNSQuestion(name: name, type: type))
        )
    }

    /// The name a reverse lookup of `address` asks for: `d.c.b.a.in-addr.arpa` (RFC 1035 §3.5), or 32 nibbles in
    /// reverse under `ip6.arpa` (RFC 3596 §2.5).
    static func reverseName(of address: IPAddress) -> DomainName? {
        let labels: [String]
        switch address {
        case .v4(let v4):
            labels = "\(v4)".split(separator: ".").reversed().map(String.init) + ["in-addr", "arpa"]
        case .v6(let v6):
            let nibbles = (0..<32).map { index in
                let word = index < 16 ? v6.high : v6.low
                return String(word >> (UInt64(15 - index % 16) * 4) & 0xF, radix: 16)
            }
            labels = nibbles.reversed() + ["ip6", "arpa"]
        }
        return try? DomainName(labels.joined(separator: "."))
    }

    /// What the hosts behind gateway `gateway` answer to a packet it forwarded: DNS to the gateway's own port 53535
    /// its site's resolver, DNS to ``TunnelWorld/tunnelledDNS`` the resolver there, everything else the resource
    /// host echoes.
    static func siteAnswer(to packet: IPPacket, gateway: Int) -> IPPacket? {
        Self.siteDNSAnswer(to: packet, gateway: gateway) ?? Self.resolverAnswer(to: packet) ?? Self.echo(packet)
    }

    /// The answer of the resolver at ``TunnelWorld/tunnelledDNS`` to a query that reached it through the tunnel.
    static func resolverAnswer(to packet: IPPacket) -> IPPacket? {
        guard let udp = packet.udp,
            IPSocketAddress(packet.destination, port: udp.destinationPort) == TunnelWorld.tunnelledDNS,
            let answer = Self.upstreamAnswer(to: packet.payload)
        else {
            return nil
        }
        return try? IPPacket.makeUDP(
            source: packet.destination,
            sourcePort: udp.destinationPort,
            destination: packet.source,
            destinationPort: udp.sourcePort,
            payload: answer
        )
    }

    /// The answer of a site's DNS server (the gateway's port 53535) to an SRV or TXT query that reached it through the
    /// tunnel: ``TunnelWorld/siteRecord(of:_:gateway:)``.
    static func siteDNSAnswer(to packet: IPPacket, gateway: Int) -> IPPacket? {
        let (ipv4, ipv6) = Self.gatewayTunnelIPs[gateway]
        guard let udp = packet.udp, udp.destinationPort == AddressPlan.gatewayDNSPort,
            packet.destination == .v4(ipv4) || packet.destination == .v6(ipv6),
            let query = try? DNSMessage(parsingQuery: packet.payload), let question = query.question
        else {
            return nil
        }
        var response: ByteBuffer
        if let record = TunnelWorld.siteRecord(of: question.name, question.type, gateway: gateway) {
            response = query.makeResponse(code: .noError)
            // One answer after the question, owned by the question's name (RFC 1035 §4.1.4), its data written here:
            // the stub's builder has no SRV or TXT.
            response.setInteger(UInt16(1), at: response.readerIndex + 6)
            response.writeInteger(UInt16(0xC00C))
            var data = ByteBuffer()
            if question.type == .txt {
                let text = String(record.dropFirst(4))
                data.writeInteger(UInt8(text.utf8.count))
                data.writeString(text)
            } else {
                data.writeInteger(UInt16(0))
                data.writeInteger(UInt16(0))
                data.writeInteger(UInt16(5060 + gateway))
                for label in question.name.labels {
                    data.writeInteger(UInt8(label.utf8.count))
                    data.writeString(label)
                }
                data.writeInteger(UInt8(0))
            }
            response.writeInteger(question.type.rawValue)
            response.writeInteger(UInt16(1))
            response.writeInteger(UInt32(60))
            response.writeInteger(UInt16(data.readableBytes))
            response.writeBuffer(&data)
        } else {
            response = query.makeResponse(code: .nameError)
        }
        return try? IPPacket.makeUDP(
            source: packet.destination,
            sourcePort: udp.destinationPort,
            destination: packet.source,
            destinationPort: udp.sourcePort,
            payload: response
        )
    }

    /// An SRV or TXT record as ``TunnelObservation/Answer/records(_:)`` shows it.
    static func describeRecord(_ record: DNSResourceRecord) -> String? {
        var data = record.data
        if record.type == .txt {
            guard let length = data.readInteger(as: UInt8.self), let text = data.readString(length: Int(length)) else {
                return nil
            }
            return "TXT \(text)"
        }
        guard let priority = data.readInteger(as: UInt16.self), let weight = data.readInteger(as: UInt16.self),
            let port = data.readInteger(as: UInt16.self), let target = Self.pointerName(data)
        else {
            return nil
        }
        return "SRV \(priority) \(weight) \(port) \(target)"
    }

    /// The name in a PTR record's data, written uncompressed as the client's stub writes it.
    static func pointerName(_ data: ByteBuffer) -> DomainName? {
        var data = data
        var labels: [[UInt8]] = []
        while let length = data.readInteger(as: UInt8.self), length > 0 {
            guard let label = data.readBytes(length: Int(length)) else {
                return nil
            }
            labels.append(label)
        }
        return try? DomainName(wireLabels: labels)
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
        let skew = self.simulation.node(Self.gatewayHosts[0], as: SimulatedGatewayHost.self).unixSkew
        return UInt64((self.simulation.clock.unixTime + skew).wholeSeconds)
    }

    /// A gateway's key, the same across its restarts.
    static func gatewaySecret(_ index: Int) -> StaticSecret {
        var generator = SeededRandomNumberGenerator(seed: 0x6761_7465 &+ UInt64(index))
        return StaticSecret(Bytes32(generator.bytes(32))!)
    }

    /// The relay keeps one allocation per username: every process (and every socket of one) gets its own salt.
    private func relays(salt: String) -> [RelayEntry] {
        let credentials = RelayNode.credentials(clock: self.simulation.clock, salt: salt)
        return [
            .turn(
                TurnRelay(
                    id: Self.relayID,
                    address: IPSocketAddress(Self.relayAddress, port: RelayNode.listeningPort),
                    username: credentials.username,
                    password: credentials.password,
                    expiresAt: UInt64(self.simulation.clock.unixTime.wholeSeconds) + 24 * 3600
                )
            )
        ]
    }

    private mutating func joinGateway(_ index: Int) {
        let socket = self.simulation.node(Self.gatewayHosts[index], as: SimulatedGatewayHost.self).socket
        let initialize = self.portal.gatewayInit(
            TunnelWorld.gateways[index],
            relays: self.relays(salt: "gateway-\(index)-\(socket.port)")
        )
        self.withGateway(index) { $0.handlePortalEvent(.initialize(initialize), now: $1) }
    }

    private var interface: ClientInterface {
        ClientInterface(
            ipv4: TunnelWorld.clientIPv4,
            ipv6: TunnelWorld.clientIPv6,
            upstreamDNS: self.portalUpstream ? [.ipPort(TunnelWorld.tunnelledDNS)] : [],
            searchDomain: nil
        )
    }

    /// The client (re)connects to the portal: the portal learns its key and sends `init`.
    private mutating func joinClient() {
        let host = self.simulation.node(Self.client, as: SimulatedClientHost.self)
        self.portal.client.publicKey = host.state.publicKey
        let interface = self.interface
        let initialize = self.portal.clientInit(
            interface: interface,
            relays: self.relays(salt: "client-\(host.socket)")
        )
        self.withClient { client, now in
            client.updateSystemResolvers([TunnelWorld.upstreamDNS], now: now)
            client.handlePortalEvent(.initialize(initialize), now: now)
        }
    }

    // MARK: Network

    /// Runs the simulation for `duration`, carrying what the nodes ask of their shells (portal messages, DNS) as
    /// soon as they ask.
    private mutating func run(for duration: Duration) {
        let end = self.simulation.now + duration
        while true {
            self.pump()
            let remaining = end - self.simulation.now
            guard self.simulation.advance(for: remaining, until: Self.hasSignals) else {
                break
            }
        }
        self.simulation.elapse(end - self.simulation.now)
    }

    private static func hasSignals(_ simulation: Simulation) -> Bool {
        simulation.node(Self.client, as: SimulatedClientHost.self).hasSignals
            || Self.gatewayHosts.contains { simulation.node($0, as: SimulatedGatewayHost.self).hasSignals }
    }

    /// Carries every portal message, DNS query and event until nothing moves; datagrams stay on the network.
    private mutating func pump() {
        var moved = true
        while moved {
            moved = false
            let now = self.simulation.now
            for index in Self.gatewayHosts.indices {
                let events = self.simulation.withNode(Self.gatewayHosts[index], as: SimulatedGatewayHost.self) {
                    host,
                    _ in host.takeEvents()
                }
                for event in events {
                    moved = true
                    switch event {
                    case .portal(let message):
                        if case .flowAuthorized = message {
                            self.trace.append("\(now): \(TunnelWorld.gateways[index]) flow_authorized")
                        }
                        self.portal.handle(message, from: TunnelWorld.gateways[index])
                    case .resolveDNS(let request):
                        let addresses = TunnelWorld.names.first { $0.name == request.domain }?.records
                        self.withGateway(index) { $0.handleDomainResolved(request, addresses: addresses, now: $1) }
                    case .noRelays:
                        self.trace.append("\(now): \(TunnelWorld.gateways[index]) rejoins the portal for relays")
                        self.joinGateway(index)
                    case .tunInterfaceUpdated:
                        break
                    }
                }
            }
            let signals = self.simulation.withNode(Self.client, as: SimulatedClientHost.self) { host, _ in
                host.takeSignals()
            }
            for query in signals.dns {
                moved = true
                if let answer = Self.upstreamAnswer(to: query.query) {
                    self.withClient { $0.handleDNSResponse(query, result: .success(answer), now: $1) }
                }
            }
            for message in signals.portal {
                moved = true
                if case .createFlow(let request) = message {
                    self.trace.append("\(now): client create_flow \(request.resourceID)")
                }
                self.portal.handle(message, unixTime: self.unixSeconds)
            }
            for event in signals.events {
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
            while let delivery = self.portal.pollDelivery() {
                moved = true
                switch delivery {
                case .toClient(.flowCreated(let flow)):
                    self.trace.append("\(now): portal flow_created \(flow.resourceID) via \(flow.gatewayID)")
                    self.withClient { $0.handlePortalEvent(.flowCreated(flow), now: $1) }
                case .toClient(.flowCreationFailed(let failure)):
                    self.trace.append("\(now): portal flow_creation_failed \(failure.resourceID) \(failure.reason)")
                    self.withClient { $0.handlePortalEvent(.flowCreationFailed(failure), now: $1) }
                case .toClient(let event):
                    self.withClient { $0.handlePortalEvent(event, now: $1) }
                case .toGateway(let id, let event):
                    self.withGateway(TunnelModel.gatewayIndex(id)) { $0.handlePortalEvent(event, now: $1) }
                }
            }
        }
    }
}
