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
import TURNClient
import WireGuard

/// A client state, a gateway's snownet node and one of our relays on one flat network, with the portal played by
/// the test: the client's candidates reach the gateway and back, `flow_created` is handed over by ``authorize``.
struct ClientHarness {
    static let clientSocket = IPSocketAddress(.v4(IPv4Address(192, 0, 2, 1)), port: 52625)
    static let gatewaySocket = IPSocketAddress(.v4(IPv4Address(192, 0, 2, 2)), port: 52625)
    static let relayAddress = IPAddress.v4(IPv4Address(192, 0, 2, 100))
    static let relayID = RelayID("f0000000-0000-4000-8000-000000000001")
    static let gatewayID = GatewayID("a0000000-0000-4000-8000-000000000001")
    static let clientID = ClientID("c0000000-0000-4000-8000-000000000001")
    static let siteID = SiteID("50000000-0000-4000-8000-000000000001")
    static let clientTunV4 = IPv4Address(100, 64, 0, 9)
    static let clientTunV6 = IPv6Address("fd00:2021:1111::9")!
    static let gatewayTunV4 = IPv4Address(100, 64, 0, 2)
    static let gatewayTunV6 = IPv6Address("fd00:2021:1111::2")!
    static let clientCredentials = PortalMessages.IceCredentials(username: "cuf1", password: "client-password-0000001")
    static let gatewayCredentials = PortalMessages.IceCredentials(
        username: "guf1",
        password: "gateway-password-000001"
    )
    static let presharedKey = PresharedKey(Bytes32((0..<32).map { UInt8($0) })!)
    static let gatewaySecret = StaticSecret(Bytes32((0..<32).map { UInt8(100 + $0) })!)
    static let site = Site(id: siteID, name: "HQ")

    static let cidrResource = ClientResource.cidr(
        CIDRResource(
            id: ResourceID("10000000-0000-4000-8000-000000000001"),
            address: IPNetwork("10.0.0.0/24")!,
            name: "LAN",
            addressDescription: nil,
            sites: [site]
        )
    )

    var clock = FluxCapacitor()
    var client: ClientState
    var gateway: Node<ClientID, RelayID>
    var relay: RelayNode
    let records = InMemoryLogHandler.Records()

    /// What the client sent the portal, wrote to its TUN device and reported, and what reached the gateway.
    var createFlows: [CreateFlow] = []
    var candidateMessages: [ClientOutbound] = []
    var events: [ClientEvent] = []
    var tunWrites: [IPPacket] = []
    var clientReceived: [IPPacket] = []
    var gatewayReceived: [IPPacket] = []

    init(
        resources: [ClientResource] = [Self.cidrResource],
        internetResourceActivated: Bool = false,
        upstreamDNS: [UpstreamDNS] = [],
        dnsRecords: ProxyIPSnapshot = .empty
    ) {
        let now = self.clock.now
        self.client = ClientState(
            secret: StaticSecret(Bytes32((0..<32).map { UInt8(200 - $0) })!),
            seed: Bytes32((0..<32).map { UInt8($0 * 3) })!,
            internetResourceActivated: internetResourceActivated,
            dnsRecords: dnsRecords,
            logger: self.records.logger(label: "client"),
            unixTime: self.clock.unixTime,
            now: now
        )
        self.gateway = Node(
            role: .gateway,
            secret: Self.gatewaySecret,
            seed: Bytes32((0..<32).map { UInt8($0 * 5) })!,
            logger: self.records.logger(label: "gateway"),
            now: now,
            unixTime: self.clock.unixTime
        )
        self.relay = RelayNode(
            addresses: [Self.relayAddress],
            seed: 7,
            clock: self.clock,
            logger: self.records.logger(label: "relay", level: .info)
        )
        let clientCredentials = RelayNode.credentials(clock: self.clock, salt: "client")
        let relaySocket = IPSocketAddress(Self.relayAddress, port: RelayNode.listeningPort)
        self.client.handlePortalEvent(
            .initialize(
                ClientInit(
                    interface: ClientInterface(
                        ipv4: Self.clientTunV4,
                        ipv6: Self.clientTunV6,
                        upstreamDNS: upstreamDNS,
                        searchDomain: nil
                    ),
                    resources: resources,
                    relays: [
                        .turn(
                            TurnRelay(
                                id: Self.relayID,
                                address: relaySocket,
                                username: clientCredentials.username,
                                password: clientCredentials.password,
                                expiresAt: UInt64(self.clock.unixTime.wholeSeconds) + 3600
                            )
                        )
                    ]
                )
            ),
            now: now
        )
        let gatewayCredentials = RelayNode.credentials(clock: self.clock, salt: "gateway")
        self.gateway.updateRelays(
            removing: [],
            adding: [
                TURNServer(
                    id: Self.relayID,
                    socket: .v4(relaySocket),
                    username: gatewayCredentials.username,
                    password: gatewayCredentials.password,
                    realm: "firezone"
                )
            ],
            now: now
        )
        self.run(for: .seconds(1))
    }

    // MARK: Packets

    static func udp(
        from source: IPAddress = .v4(clientTunV4),
        to destination: IPAddress,
        port: UInt16 = 53,
        payload: String = "hello"
    ) throws -> IPPacket {
        var body = ByteBuffer()
        body.writeString(payload)
        return try IPPacket.makeUDP(
            source: source,
            sourcePort: 40000,
            destination: destination,
            destinationPort: port,
            payload: body
        )
    }

    /// A DNS query from the application at our tunnel address, port 40000.
    static func dnsQuery(
        _ name: String,
        type: DNSRecordType = .a,
        to server: IPAddress,
        port: UInt16 = 53,
        id: UInt16 = 0x4242
    ) throws -> IPPacket {
        try IPPacket.makeUDP(
            source: .v4(clientTunV4),
            sourcePort: 40000,
            destination: server,
            destinationPort: port,
            payload: DNSMessage.makeQuery(id: id, question: DNSQuestion(name: try DomainName(name), type: type))
        )
    }

    static func lanHost(_ last: UInt8 = 5) -> IPAddress {
        .v4(IPv4Address(10, 0, 0, last))
    }

    // MARK: Portal

    /// The portal's `flow_created` for `resource`, after the gateway accepted the client (`authorize_flow`).
    mutating func authorize(_ resource: ResourceID) throws {
        try self.gateway.upsertConnection(
            Self.clientID,
            remoteKey: self.client.publicKey,
            presharedKey: Self.presharedKey,
            local: ICE.IceCredentials(
                ufrag: Self.gatewayCredentials.username,
                password: Self.gatewayCredentials.password
            ),
            remote: ICE.IceCredentials(
                ufrag: Self.clientCredentials.username,
                password: Self.clientCredentials.password
            ),
            now: self.clock.now
        )
        self.client.handlePortalEvent(.flowCreated(Self.flowCreated(for: resource)), now: self.clock.now)
        self.deliver()
    }

    static func flowCreated(for resource: ResourceID) -> FlowCreated {
        FlowCreated(
            resourceID: resource,
            gatewayID: Self.gatewayID,
            siteID: Self.siteID,
            gatewayPublicKey: Self.gatewaySecret.publicKey,
            gatewayIPv4: Self.gatewayTunV4,
            gatewayIPv6: Self.gatewayTunV6,
            presharedKey: Self.presharedKey,
            clientIceCredentials: Self.clientCredentials,
            gatewayIceCredentials: Self.gatewayCredentials
        )
    }

    mutating func tunInput(_ packet: IPPacket) {
        self.client.handleTunInput(packet, now: self.clock.now)
        self.deliver()
    }

    /// The gateway sends `packet` to the client through the tunnel.
    mutating func gatewaySends(_ packet: IPPacket) throws {
        var buffer = packet.buffer.withEncapsulationRoom()
        if let destination = try self.gateway.encapsulate(&buffer, for: Self.clientID, now: self.clock.now) {
            self.route(
                from: destination.source ?? Self.gatewaySocket,
                to: destination.destination,
                payload: buffer
            )
        }
        self.deliver()
    }

    // MARK: Network

    /// Runs every node's timers and delivers every datagram for `duration` of simulated time.
    mutating func run(for duration: Duration) {
        let end = self.clock.now + duration
        self.deliver()
        while true {
            let deadlines = [
                self.client.pollTimeout()?.deadline,
                self.gateway.pollTimeout()?.deadline,
                self.relay.pollTimeout(),
            ].compactMap { $0 }
            guard let next = deadlines.min(), next <= end else {
                break
            }
            self.clock.advance(to: max(next, self.clock.now))
            let now = self.clock.now
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
    mutating func deliver() {
        var moved = true
        while moved {
            moved = false
            let now = self.clock.now
            while let transmit = self.client.pollTransmit() {
                moved = true
                self.route(
                    from: transmit.source ?? Self.clientSocket,
                    to: transmit.destination,
                    payload: transmit.payload
                )
            }
            while let transmit = self.gateway.pollTransmit() {
                moved = true
                self.route(
                    from: transmit.source ?? Self.gatewaySocket,
                    to: transmit.destination,
                    payload: transmit.payload
                )
            }
            while let transmit = self.relay.pollTransmit(now: now) {
                moved = true
                self.route(from: transmit.source, to: transmit.destination, payload: transmit.payload)
            }
            while let message = self.client.pollPortalMessage() {
                moved = true
                switch message {
                case .createFlow(let flow):
                    self.createFlows.append(flow)
                case .broadcastIceCandidates(let candidates):
                    self.candidateMessages.append(message)
                    _ = try? self.gateway.addRemoteCandidates(candidates.candidates, for: Self.clientID, now: now)
                case .broadcastInvalidatedIceCandidates:
                    self.candidateMessages.append(message)
                }
            }
            while let event = self.gateway.pollEvent() {
                moved = true
                if case .newIceCandidates(_, let candidates) = event {
                    self.client.handlePortalEvent(
                        .iceCandidates(GatewayIceCandidates(gatewayID: Self.gatewayID, candidates: candidates)),
                        now: now
                    )
                }
            }
            while let event = self.client.pollEvent() {
                moved = true
                self.events.append(event)
            }
            while let packet = self.client.pollTunWrite() {
                moved = true
                self.tunWrites.append(packet)
            }
        }
    }

    private mutating func route(from source: IPSocketAddress, to destination: IPSocketAddress, payload: ByteBuffer) {
        let now = self.clock.now
        var datagram = payload
        switch destination.address {
        case Self.relayAddress:
            self.relay.handleDatagram(payload, from: source, to: destination, now: now)
        case Self.clientSocket.address:
            if let packet = self.client.handleNetworkInput(&datagram, from: source, local: destination, now: now) {
                self.clientReceived.append(packet)
            }
        case Self.gatewaySocket.address:
            if (try? self.gateway.decapsulate(&datagram, from: source, local: destination, now: now)) != nil,
                let packet = try? IPPacket(datagram)
            {
                self.gatewayReceived.append(packet)
            }
        default:
            break
        }
    }

    // MARK: Queries

    var gatewayPayloads: [String] {
        self.gatewayReceived.map { String(buffer: $0.payload) }
    }

    var lastResourceViews: [ClientResourceView]? {
        self.events.reversed().lazy.compactMap { if case .resourcesChanged(let views) = $0 { views } else { nil } }
            .first
    }

    var lastTunConfig: TunConfig? {
        self.events.reversed().lazy.compactMap { if case .tunInterfaceUpdated(let config) = $0 { config } else { nil } }
            .first
    }
}
