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
import WireGuard

/// A ``ClientState`` and a ``GatewayState`` with an established connection and a flow to each of two resources, a
/// CIDR resource and a DNS resource whose proxy address the gateway has mapped; the gateway's resolver answers every
/// name with ``dnsTarget``.
///
/// The tunnel is set up as connlib's reference model runs one: both states on the hosts of a lossless ``Simulation``
/// without latency with one of our relays, the ``SimulatedPortal`` brokering the flows; then the two states are taken
/// out of it, as the only owners of their memory, for the benchmarks to drive by hand. The connection is direct:
/// client at 192.0.2.1, gateway at 192.0.2.2, relay at 192.0.2.100.
struct ConnectedTunnel {
    static let clientID = ClientID("c0000000-0000-4000-8000-00000000000c")
    static let gatewayID = GatewayID("gateway-a")
    static let site = Site(id: SiteID("site-a"), name: "a")
    static let relayID = RelayID("f0000000-0000-4000-8000-0000000000f1")
    static let relayAddress = IPAddress("192.0.2.100")!
    static let clientIPv4 = IPv4Address(100, 64, 0, 1)
    static let clientIPv6 = IPv6Address("fd00:2021:1111::1")!
    static let gatewayIPv4 = IPv4Address(100, 64, 0, 2)
    static let gatewayIPv6 = IPv6Address("fd00:2021:1111::2")!
    static let upstreamDNS = IPSocketAddress(IPAddress("198.51.100.53")!, port: 53)
    static let cidrResource = ResourceID("a0000000-0000-4000-8000-00000000000a")
    static let dnsResource = ResourceID("d0000000-0000-4000-8000-00000000000d")
    /// The host of the CIDR resource 10.0.0.0/24 the client sends to.
    static let cidrTarget = IPAddress("10.0.0.5")!
    static let dnsName = "app.example.com"
    /// The address the gateway's resolver gives for ``dnsName``.
    static let dnsTarget = IPAddress("203.0.113.80")!
    static let clientSocket = IPSocketAddress(IPAddress("192.0.2.1")!, port: 52625)
    static let gatewaySocket = IPSocketAddress(IPAddress("192.0.2.2")!, port: 52625)

    static let resources: [ClientResource] = [
        .cidr(
            CIDRResource(
                id: cidrResource,
                address: IPNetwork("10.0.0.0/24")!,
                name: "cidr",
                addressDescription: nil,
                sites: [site],
                filters: []
            )
        ),
        .dns(
            DNSResource(
                id: dnsResource,
                address: dnsName,
                name: "dns",
                addressDescription: nil,
                sites: [site],
                ipStack: nil,
                filters: []
            )
        ),
    ]

    var client: ClientState
    var gateway: GatewayState
    /// When the setup ended: the benchmarks' `now`.
    let now: Instant
    /// The proxy address the client's stub gave ``dnsName``.
    let proxyIP: IPAddress
    /// What the gateway wrote to its TUN device for the last packet to each resource: the CIDR resource's, then the
    /// DNS resource's.
    let gatewayTun: [IPPacket]

    var clientSocket: IPSocketAddress { Self.clientSocket }
    var gatewaySocket: IPSocketAddress { Self.gatewaySocket }

    /// Connects the tunnel, then lets it sit for `idle` with nothing to send.
    init(idleFor idle: Duration = .zero) {
        var setup = Setup()
        let proxyIP = setup.connect()
        setup.run(for: idle)
        self.now = setup.simulation.now
        self.proxyIP = proxyIP
        self.gatewayTun = setup.simulation.node(Setup.gateway, as: SimulatedGatewayHost.self).tun
        self.client = setup.simulation.node(Setup.client, as: SimulatedClientHost.self).state
        self.gateway = setup.simulation.node(Setup.gateway, as: SimulatedGatewayHost.self).state
    }

    /// A UDP packet of `length` bytes from port 40,000 to port 5,000 (the other way when `swapped`), in a buffer with
    /// the room snownet seals it in.
    static func packet(
        from source: IPAddress,
        to destination: IPAddress,
        length: Int = 64,
        swapped: Bool = false
    ) -> IPPacket {
        let headers = (source.version == .v4 ? 20 : 40) + 8
        var payload = ByteBufferAllocator().buffer(capacity: length - headers)
        payload.writeRepeatingByte(0xAB, count: length - headers)
        let packet = try! IPPacket.makeUDP(
            source: source,
            sourcePort: swapped ? 5_000 : 40_000,
            destination: destination,
            destinationPort: swapped ? 40_000 : 5_000,
            payload: payload
        )
        return try! IPPacket(packet.buffer.withEncapsulationRoom())
    }

    /// The simulation the tunnel is set up on, and what carries the portal's messages and the gateway's resolutions.
    private struct Setup {
        static let client = "client"
        static let gateway = "gateway"
        static let relay = "relay"
        /// Every access link: no latency, no loss.
        static let link = LinkConditions(latency: .zero)

        var simulation = Simulation(seed: 7)
        var portal: SimulatedPortal
        /// The client's DNS sentinel for the system resolver, from its last TUN configuration.
        var sentinel: IPAddress?

        init() {
            let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
            let now = self.simulation.now
            let clock = self.simulation.clock
            let relay = RelayNode(addresses: [ConnectedTunnel.relayAddress], seed: 7, clock: clock, logger: logger)
            self.simulation.addHost(
                Self.relay,
                addresses: [ConnectedTunnel.relayAddress],
                link: Self.link,
                node: relay
            )
            let client = ClientState(
                secret: StaticSecret(Bytes32((0..<32).map { UInt8($0) &* 7 &+ 3 })!),
                seed: Bytes32((0..<32).map { UInt8($0) &* 5 &+ 1 })!,
                internetResourceActivated: false,
                logger: logger,
                unixTime: clock.unixTime,
                now: now
            )
            let gateway = GatewayState(
                secret: StaticSecret(Bytes32((0..<32).map { UInt8($0) &* 11 &+ 5 })!),
                seed: Bytes32((0..<32).map { UInt8($0) &* 13 &+ 2 })!,
                logger: logger,
                now: now,
                unixTime: clock.unixTime
            )
            self.portal = SimulatedPortal(
                clientID: ConnectedTunnel.clientID,
                client: SimulatedPortal.Peer(
                    publicKey: client.publicKey,
                    ipv4: ConnectedTunnel.clientIPv4,
                    ipv6: ConnectedTunnel.clientIPv6
                ),
                gateways: [
                    SimulatedPortal.Gateway(
                        id: ConnectedTunnel.gatewayID,
                        peer: SimulatedPortal.Peer(
                            publicKey: gateway.publicKey,
                            ipv4: ConnectedTunnel.gatewayIPv4,
                            ipv6: ConnectedTunnel.gatewayIPv6
                        ),
                        site: ConnectedTunnel.site.id
                    )
                ],
                seed: 7
            )
            self.portal.flowLifetime = 30 * 24 * 3600
            for resource in ConnectedTunnel.resources {
                self.portal.upsertResource(resource)
            }
            let gatewayHost = SimulatedGatewayHost(state: gateway, socket: ConnectedTunnel.gatewaySocket)
            self.simulation.addHost(
                Self.gateway,
                addresses: [ConnectedTunnel.gatewaySocket.address],
                link: Self.link,
                node: gatewayHost
            )
            let clientHost = SimulatedClientHost(state: client, socket: ConnectedTunnel.clientSocket)
            self.simulation.addHost(
                Self.client,
                addresses: [ConnectedTunnel.clientSocket.address],
                link: Self.link,
                node: clientHost
            )
            let gatewayInit = self.portal.gatewayInit(ConnectedTunnel.gatewayID, relays: self.relays(salt: "gateway"))
            self.simulation.withNode(Self.gateway, as: SimulatedGatewayHost.self) { host, now in
                host.change { $0.handlePortalEvent(.initialize(gatewayInit), now: now) }
            }
            let interface = ClientInterface(
                ipv4: ConnectedTunnel.clientIPv4,
                ipv6: ConnectedTunnel.clientIPv6,
                upstreamDNS: [],
                searchDomain: nil
            )
            let clientInit = self.portal.clientInit(interface: interface, relays: self.relays(salt: "client"))
            self.withClient { client, now in
                client.updateSystemResolvers([ConnectedTunnel.upstreamDNS], now: now)
                client.handlePortalEvent(.initialize(clientInit), now: now)
            }
            self.run(for: .seconds(2))
        }

        /// Sends one packet to each resource (the first asks for the flow, the connection is established, the
        /// buffered packet goes through), then checks that a UDP packet reaches each resource; the proxy address of
        /// ``dnsName``.
        mutating func connect() -> IPAddress {
            let client = IPAddress.v4(ConnectedTunnel.clientIPv4)
            self.send(ConnectedTunnel.packet(from: client, to: ConnectedTunnel.cidrTarget))
            self.run(for: .seconds(3))
            precondition(
                self.simulation.node(Self.gateway, as: SimulatedGatewayHost.self).state
                    .isConnected(to: ConnectedTunnel.clientID),
                "the client connected to the gateway"
            )
            guard let sentinel = self.sentinel else {
                preconditionFailure("the client configured a DNS sentinel")
            }
            let name = try! DomainName(ConnectedTunnel.dnsName)
            let query = DNSMessage.makeQuery(id: 1, question: DNSQuestion(name: name, type: .a))
            self.send(
                try! IPPacket.makeUDP(
                    source: client,
                    sourcePort: 50_000,
                    destination: sentinel,
                    destinationPort: 53,
                    payload: query
                )
            )
            self.run(for: .seconds(1))
            let clientTun = self.simulation.node(Self.client, as: SimulatedClientHost.self).tun
            guard let answer = clientTun.last, let message = try? DNSMessage(parsingResponse: answer.payload),
                let proxyIP = message.answerAddresses.first
            else {
                preconditionFailure("the stub answered with a proxy address")
            }
            self.send(ConnectedTunnel.packet(from: client, to: proxyIP))
            self.run(for: .seconds(3))
            self.simulation.withNode(Self.gateway, as: SimulatedGatewayHost.self) { host, _ in host.tun.removeAll() }
            for destination in [ConnectedTunnel.cidrTarget, proxyIP] {
                self.send(ConnectedTunnel.packet(from: client, to: destination))
                self.run(for: .milliseconds(10))
            }
            let gatewayTun = self.simulation.node(Self.gateway, as: SimulatedGatewayHost.self).tun
            precondition(gatewayTun.count == 2, "a packet to each resource reached the gateway's TUN device")
            precondition(gatewayTun[1].destination == ConnectedTunnel.dnsTarget, "the proxy address is translated")
            return proxyIP
        }

        private mutating func send(_ packet: IPPacket) {
            self.withClient { $0.handleTunInput(packet, now: $1) }
        }

        private mutating func withClient(_ body: (inout ClientState, Instant) -> Void) {
            self.simulation.withNode(Self.client, as: SimulatedClientHost.self) { host, now in
                host.change { body(&$0, now) }
            }
        }

        private func relays(salt: String) -> [RelayEntry] {
            let credentials = RelayNode.credentials(clock: self.simulation.clock, salt: salt)
            return [
                .turn(
                    TurnRelay(
                        id: ConnectedTunnel.relayID,
                        address: IPSocketAddress(ConnectedTunnel.relayAddress, port: RelayNode.listeningPort),
                        username: credentials.username,
                        password: credentials.password,
                        expiresAt: UInt64(self.simulation.clock.unixTime.wholeSeconds) + 24 * 3600
                    )
                )
            ]
        }

        /// Runs the simulation for `duration`, carrying what the states ask of their shells as soon as they ask.
        mutating func run(for duration: Duration) {
            let end = self.simulation.now + duration
            while true {
                self.carry()
                guard self.simulation.advance(for: end - self.simulation.now, until: Self.hasSignals) else {
                    break
                }
            }
            self.simulation.elapse(end - self.simulation.now)
        }

        private static func hasSignals(_ simulation: Simulation) -> Bool {
            simulation.node(Self.client, as: SimulatedClientHost.self).hasSignals
                || simulation.node(Self.gateway, as: SimulatedGatewayHost.self).hasSignals
        }

        /// Carries the portal's messages both ways, answers the gateway's resolutions and keeps the client's sentinel.
        private mutating func carry() {
            var moved = true
            while moved {
                moved = false
                let events = self.simulation.withNode(Self.gateway, as: SimulatedGatewayHost.self) { host, _ in
                    host.takeEvents()
                }
                for event in events {
                    moved = true
                    switch event {
                    case .portal(let message):
                        self.portal.handle(message, from: ConnectedTunnel.gatewayID)
                    case .resolveDNS(let request):
                        self.simulation.withNode(Self.gateway, as: SimulatedGatewayHost.self) { host, now in
                            host.change {
                                $0.handleDomainResolved(request, addresses: [ConnectedTunnel.dnsTarget], now: now)
                            }
                        }
                    case .noRelays, .tunInterfaceUpdated:
                        break
                    }
                }
                let signals = self.simulation.withNode(Self.client, as: SimulatedClientHost.self) { host, _ in
                    host.takeSignals()
                }
                let unixTime = UInt64(self.simulation.clock.unixTime.wholeSeconds)
                for message in signals.portal {
                    moved = true
                    self.portal.handle(message, unixTime: unixTime)
                }
                for event in signals.events {
                    moved = true
                    if case .tunInterfaceUpdated(let config) = event {
                        self.sentinel = config.dnsBySentinel.first { $0.sentinel.version == .v4 }?.sentinel
                    }
                }
                moved = moved || !signals.dns.isEmpty
                while let delivery = self.portal.pollDelivery() {
                    moved = true
                    switch delivery {
                    case .toClient(let event):
                        self.withClient { $0.handlePortalEvent(event, now: $1) }
                    case .toGateway(_, let event):
                        self.simulation.withNode(Self.gateway, as: SimulatedGatewayHost.self) { host, now in
                            host.change { $0.handlePortalEvent(event, now: now) }
                        }
                    }
                }
            }
        }
    }
}
