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

/// A ``ClientState`` and a ``GatewayState`` with an established connection and a flow to each of two resources, a
/// CIDR resource and a DNS resource whose proxy address the gateway has mapped, on a lossless network with one of our
/// relays. The portal's part is the few messages a flow needs (`create_flow` → `authorize_flow` → `flow_authorized` →
/// `flow_created`, and candidates both ways); the gateway's resolver answers every name with ``dnsTarget``.
///
/// The connection is direct: client at 192.0.2.1, gateway at 192.0.2.2, relay at 192.0.2.100.
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
    static let clientCredentials = IceCredentials(username: "client", password: "client-password-0123456789")
    static let gatewayCredentials = IceCredentials(username: "gateway", password: "gateway-password-012345678")

    var clock = FluxCapacitor()
    var client: ClientState
    var gateway: GatewayState
    private var relay: RelayNode
    let clientSocket = IPSocketAddress(IPAddress("192.0.2.1")!, port: 52625)
    let gatewaySocket = IPSocketAddress(IPAddress("192.0.2.2")!, port: 52625)
    private var sentinel: IPAddress?
    /// The proxy address the client's stub gave ``dnsName``.
    private(set) var proxyIP: IPAddress?
    /// What the gateway wrote to its TUN device and the client to its own, while connecting.
    private(set) var gatewayTun: [IPPacket] = []
    private var clientTun: [IPPacket] = []
    private var pendingFlows: [String: (resource: ResourceID, key: PresharedKey)] = [:]
    private var nextRef = 1

    var now: Instant {
        self.clock.now
    }

    init() {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let now = self.clock.now
        self.relay = RelayNode(addresses: [Self.relayAddress], seed: 7, clock: self.clock, logger: logger)
        self.client = ClientState(
            secret: StaticSecret(Bytes32((0..<32).map { UInt8($0) &* 7 &+ 3 })!),
            seed: Bytes32((0..<32).map { UInt8($0) &* 5 &+ 1 })!,
            internetResourceActivated: false,
            logger: logger,
            unixTime: self.clock.unixTime,
            now: now
        )
        self.gateway = GatewayState(
            secret: StaticSecret(Bytes32((0..<32).map { UInt8($0) &* 11 &+ 5 })!),
            seed: Bytes32((0..<32).map { UInt8($0) &* 13 &+ 2 })!,
            logger: logger,
            now: now,
            unixTime: self.clock.unixTime
        )
        self.gateway.handlePortalEvent(
            .initialize(
                GatewayInit(
                    interface: GatewayInterface(ipv4: Self.gatewayIPv4, ipv6: Self.gatewayIPv6),
                    config: GatewayConfig(ipv4MasqueradeEnabled: true, ipv6MasqueradeEnabled: true),
                    relays: self.relays(salt: "gateway"),
                    accountSlug: "bench",
                    authorizations: []
                )
            ),
            now: now
        )
        self.client.updateSystemResolvers([Self.upstreamDNS], now: now)
        self.client.handlePortalEvent(
            .initialize(
                ClientInit(
                    interface: ClientInterface(
                        ipv4: Self.clientIPv4,
                        ipv6: Self.clientIPv6,
                        upstreamDNS: [],
                        searchDomain: nil
                    ),
                    resources: Self.resources.map(\.client),
                    relays: self.relays(salt: "client")
                )
            ),
            now: now
        )
        self.run(for: .seconds(2))
        self.connect()
    }

    static let resources: [(client: ClientResource, gateway: GatewayResource)] = [
        (
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
            .cidr(id: cidrResource, address: IPNetwork("10.0.0.0/24")!, name: "cidr", filters: [])
        ),
        (
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
            .dns(id: dnsResource, address: dnsName, name: "dns", filters: [])
        ),
    ]

    /// Sends one packet to each resource (the first asks for the flow, the connection is established, the buffered
    /// packet goes through), then checks that a UDP packet reaches each resource and the reply comes back.
    private mutating func connect() {
        self.client.handleTunInput(Self.packet(from: .v4(Self.clientIPv4), to: Self.cidrTarget), now: self.now)
        self.run(for: .seconds(3))
        precondition(self.gateway.isConnected(to: Self.clientID), "the client connected to the gateway")
        let query = DNSMessage.makeQuery(id: 1, question: DNSQuestion(name: try! DomainName(Self.dnsName), type: .a))
        guard let sentinel = self.sentinel else {
            preconditionFailure("the client configured a DNS sentinel")
        }
        self.client.handleTunInput(
            try! IPPacket.makeUDP(
                source: .v4(Self.clientIPv4),
                sourcePort: 50_000,
                destination: sentinel,
                destinationPort: 53,
                payload: query
            ),
            now: self.now
        )
        self.run(for: .seconds(1))
        guard let answer = self.clientTun.last, let message = try? DNSMessage(parsingResponse: answer.payload),
            let proxyIP = message.answerAddresses.first
        else {
            preconditionFailure("the stub answered with a proxy address")
        }
        self.proxyIP = proxyIP
        self.client.handleTunInput(Self.packet(from: .v4(Self.clientIPv4), to: proxyIP), now: self.now)
        self.run(for: .seconds(3))
        self.gatewayTun.removeAll()
        for destination in [Self.cidrTarget, proxyIP] {
            self.client.handleTunInput(Self.packet(from: .v4(Self.clientIPv4), to: destination), now: self.now)
            self.run(for: .milliseconds(10))
        }
        precondition(self.gatewayTun.count == 2, "a packet to each resource reached the gateway's TUN device")
        precondition(self.gatewayTun[1].destination == Self.dnsTarget, "the proxy address is translated")
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

    /// Runs every timer and delivers every datagram and portal message for `duration` of simulated time.
    mutating func run(for duration: Duration) {
        let end = self.now + duration
        self.deliver()
        while true {
            let deadlines = [
                self.client.pollTimeout()?.deadline, self.relay.pollTimeout(), self.gateway.pollTimeout()?.deadline,
            ]
            guard let next = deadlines.compactMap({ $0 }).min(), next <= end else {
                break
            }
            self.clock.advance(to: max(next, self.now))
            let now = self.now
            if let deadline = self.client.pollTimeout()?.deadline, deadline <= now {
                self.client.handleTimeout(now: now)
            }
            if let deadline = self.gateway.pollTimeout()?.deadline, deadline <= now {
                self.gateway.handleTimeout(now: now, unixTime: self.clock.unixTime)
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
            let now = self.now
            while let transmit = self.client.pollTransmit() {
                moved = true
                self.route(from: transmit.source ?? self.clientSocket, to: transmit.destination, transmit.payload)
            }
            while let transmit = self.gateway.pollTransmit() {
                moved = true
                self.route(from: transmit.source ?? self.gatewaySocket, to: transmit.destination, transmit.payload)
            }
            while let transmit = self.relay.pollTransmit(now: now) {
                moved = true
                self.route(from: transmit.source, to: transmit.destination, transmit.payload)
            }
            while let event = self.gateway.pollEvent() {
                moved = true
                self.handle(event)
            }
            while let message = self.client.pollPortalMessage() {
                moved = true
                self.handle(message)
            }
            while let event = self.client.pollEvent() {
                moved = true
                if case .tunInterfaceUpdated(let config) = event {
                    self.sentinel = config.dnsBySentinel.first { $0.sentinel.version == .v4 }?.sentinel
                }
            }
            while let packet = self.client.pollTunWrite() {
                moved = true
                self.clientTun.append(packet)
            }
        }
    }

    private mutating func handle(_ event: GatewayEvent) {
        switch event {
        case .portal(.flowAuthorized(let message)):
            guard let flow = self.pendingFlows.removeValue(forKey: message.ref) else {
                return
            }
            self.client.handlePortalEvent(
                .flowCreated(
                    FlowCreated(
                        resourceID: flow.resource,
                        gatewayID: Self.gatewayID,
                        siteID: Self.site.id,
                        gatewayPublicKey: self.gateway.publicKey,
                        gatewayIPv4: Self.gatewayIPv4,
                        gatewayIPv6: Self.gatewayIPv6,
                        presharedKey: flow.key,
                        clientIceCredentials: Self.clientCredentials,
                        gatewayIceCredentials: Self.gatewayCredentials
                    )
                ),
                now: self.now
            )
        case .portal(.broadcastIceCandidates(let message)):
            self.client.handlePortalEvent(
                .iceCandidates(GatewayIceCandidates(gatewayID: Self.gatewayID, candidates: message.candidates)),
                now: self.now
            )
        case .resolveDNS(let request):
            self.gateway.handleDomainResolved(request, addresses: [Self.dnsTarget], now: self.now)
        default:
            break
        }
    }

    private mutating func handle(_ message: ClientOutbound) {
        switch message {
        case .createFlow(let request):
            guard let resource = Self.resources.first(where: { $0.client.id == request.resourceID }) else {
                return
            }
            let ref = "flow-\(self.nextRef)"
            self.nextRef += 1
            let key = PresharedKey(Bytes32((0..<32).map { UInt8($0) &+ UInt8(truncatingIfNeeded: ref.count) })!)
            self.pendingFlows[ref] = (resource.client.id, key)
            self.gateway.handlePortalEvent(
                .authorizeFlow(
                    AuthorizeFlow(
                        ref: ref,
                        resource: resource.gateway,
                        client: FlowClient(
                            id: Self.clientID,
                            publicKey: self.client.publicKey,
                            presharedKey: key,
                            ipv4: Self.clientIPv4,
                            ipv6: Self.clientIPv6
                        ),
                        clientIceCredentials: Self.clientCredentials,
                        gatewayIceCredentials: Self.gatewayCredentials,
                        expiresAt: UInt64(self.clock.unixTime.wholeSeconds) + 30 * 24 * 3600
                    )
                ),
                now: self.now
            )
        case .broadcastIceCandidates(let message):
            self.gateway.handlePortalEvent(
                .iceCandidates(ClientIceCandidates(clientID: Self.clientID, candidates: message.candidates)),
                now: self.now
            )
        default:
            break
        }
    }

    private mutating func route(from source: IPSocketAddress, to destination: IPSocketAddress, _ payload: ByteBuffer) {
        let now = self.now
        if destination.address == Self.relayAddress {
            self.relay.handleDatagram(payload, from: source, to: destination, now: now)
        } else if destination == self.clientSocket {
            var datagram = payload
            if let packet = self.client.handleNetworkInput(&datagram, from: source, local: destination, now: now) {
                self.clientTun.append(packet)
            }
        } else if destination == self.gatewaySocket {
            var datagram = payload
            if let packet = self.gateway.handleNetworkInput(&datagram, from: source, local: destination, now: now) {
                self.gatewayTun.append(packet)
            }
        }
    }
}
