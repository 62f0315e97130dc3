import ConnlibCore
import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import PortalMessages
import Testing
import WireGuard

@Suite struct GatewayStateTests {
    static let cidr = GatewayResource.cidr(
        id: GatewayScenario.cidrResource,
        address: IPNetwork("172.20.0.0/16")!,
        name: "site",
        filters: [.tcp(ports: 80...80), .icmp]
    )
    static let dns = GatewayResource.dns(
        id: GatewayScenario.dnsResource,
        address: "*.corp.example",
        name: "corp",
        filters: []
    )

    static func tcp(
        to destination: IPAddress,
        port: UInt16,
        from source: IPAddress = .v4(GatewayScenario.clientV4)
    )
        -> IPPacket
    {
        try! IPPacket.makeTCP(
            source: source,
            sourcePort: 40000,
            destination: destination,
            destinationPort: port,
            sequenceNumber: 1,
            flags: .syn
        )
    }

    static func reply(from source: IPAddress, port: UInt16) -> IPPacket {
        try! IPPacket.makeTCP(
            source: source,
            sourcePort: port,
            destination: .v4(GatewayScenario.clientV4),
            destinationPort: 40000,
            sequenceNumber: 1,
            flags: [.syn, .ack]
        )
    }

    static func isGoodbye(_ packet: IPPacket) -> Bool {
        packet.fzP2PControl?.eventType == .goodbye
    }

    static func standalone() -> GatewayState {
        GatewayState(
            secret: StaticSecret(GatewayScenario.gatewaySecret),
            seed: Bytes32(Array(repeating: 7, count: 32))!,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            now: .zero,
            unixTime: .seconds(1_700_000_000)
        )
    }

    static func drainEvents(_ state: inout GatewayState) -> [GatewayEvent] {
        var events: [GatewayEvent] = []
        while let event = state.pollEvent() {
            events.append(event)
        }
        return events
    }

    // MARK: Portal

    @Test func authorizeFlowWithoutRelaysAsksForAFreshInitAndDoesNotAnswer() {
        var state = Self.standalone()
        state.handlePortalEvent(.authorizeFlow(GatewayScenario.flow(Self.cidr)), now: .zero)
        #expect(Self.drainEvents(&state) == [.noRelays])
        #expect(state.clientIDs.isEmpty)
    }

    @Test func authorizeFlowAnswersFlowAuthorizedWithItsRef() {
        var scenario = GatewayScenario(seed: 11)
        scenario.start()
        scenario.portal(.authorizeFlow(GatewayScenario.flow(Self.cidr, ref: "signed-ref")))
        #expect(scenario.gateway.events.contains(.portal(.flowAuthorized(FlowAuthorized(ref: "signed-ref")))))
        #expect(scenario.gateway.events.contains(.tunInterfaceUpdated(GatewayScenario.interface)))
        #expect(scenario.gateway.state.client(GatewayScenario.clientID)?.resources == [GatewayScenario.cidrResource])
    }

    @Test func initKeepsOnlyTheListedAuthorizationsAndTheirExpiries() {
        var scenario = GatewayScenario(seed: 12)
        scenario.start()
        scenario.portal(.authorizeFlow(GatewayScenario.flow(Self.cidr)))
        scenario.portal(.authorizeFlow(GatewayScenario.flow(Self.dns, ref: "ref-2")))
        let expiry = scenario.unixSeconds + 600
        scenario.portal(
            .initialize(
                scenario.gatewayInit(authorizations: [
                    Authorization(
                        clientID: GatewayScenario.clientID,
                        resourceID: GatewayScenario.dnsResource,
                        expiresAt: expiry
                    )
                ])
            )
        )
        let client = scenario.gateway.state.client(GatewayScenario.clientID)
        #expect(client?.resources == [GatewayScenario.dnsResource])
        #expect(client?.expiresAt(GatewayScenario.dnsResource) == expiry)

        scenario.portal(.initialize(scenario.gatewayInit(authorizations: [])))
        #expect(scenario.gateway.state.client(GatewayScenario.clientID) == nil)
    }

    @Test func losingTheLastRelayAsksForAFreshInit() {
        var scenario = GatewayScenario(seed: 25)
        scenario.start()
        scenario.portal(.relaysPresence(RelaysPresence(disconnectedIDs: [GatewayScenario.relayID], connected: [])))
        scenario.run(for: .seconds(1))
        #expect(scenario.gateway.events.contains(.noRelays))
        // Without relays a flow cannot be set up: no answer to the portal.
        scenario.portal(.authorizeFlow(GatewayScenario.flow(Self.cidr, ref: "no-relays")))
        #expect(!scenario.gateway.events.contains(.portal(.flowAuthorized(FlowAuthorized(ref: "no-relays")))))
    }

    // MARK: Traffic

    @Test func resourcePacketsWhileTheConnectionIsSetUpAreDroppedNotBuffered() throws {
        var scenario = GatewayScenario(seed: 26)
        scenario.start()
        try scenario.authorize(Self.cidr)
        let early = Self.reply(from: GatewayScenario.resourceAddress, port: 80)
        scenario.resourceSends(early)
        #expect(scenario.gateway.state.stats[.notConnected] == 1)
        let connected = scenario.run(for: .seconds(10), until: GatewayScenario.bothEstablished)
        try #require(connected, "\(scenario.report())")
        scenario.run(for: .seconds(1))
        #expect(!scenario.client.delivered.contains(early))
    }

    @Test func clientReachesAnAuthorizedResourceAndTheReplyComesBack() throws {
        var scenario = GatewayScenario(seed: 13)
        let connected = try scenario.connect(Self.cidr)
        try #require(connected, "\(scenario.report())")
        let packet = Self.tcp(to: GatewayScenario.resourceAddress, port: 80)
        scenario.clientSends(packet)
        scenario.run(for: .milliseconds(200))
        #expect(scenario.gateway.tunWrites == [packet])

        let reply = Self.reply(from: GatewayScenario.resourceAddress, port: 80)
        scenario.resourceSends(reply)
        scenario.run(for: .milliseconds(200))
        #expect(scenario.client.delivered.contains(reply))
    }

    @Test func filteredPacketIsAnsweredProhibitedThroughTheTunnel() throws {
        var scenario = GatewayScenario(seed: 14)
        let connected = try scenario.connect(Self.cidr)
        try #require(connected, "\(scenario.report())")
        scenario.clientSends(Self.tcp(to: GatewayScenario.resourceAddress, port: 22))
        scenario.run(for: .milliseconds(200))
        #expect(scenario.gateway.tunWrites.isEmpty)
        let answer = try #require(scenario.client.delivered.last)
        #expect(answer.icmp?.type == 3 && answer.icmp?.code == 13)
        #expect(answer.source == GatewayScenario.resourceAddress)
        #expect(scenario.gateway.state.stats[.filtered] == 1)
    }

    @Test func resourcePacketForNoClientIsDroppedAndCounted() throws {
        var scenario = GatewayScenario(seed: 15)
        let connected = try scenario.connect(Self.cidr)
        try #require(connected, "\(scenario.report())")
        let stray = try IPPacket.makeTCP(
            source: GatewayScenario.resourceAddress,
            sourcePort: 80,
            destination: IPAddress("100.64.0.77")!,
            destinationPort: 40000,
            sequenceNumber: 1,
            flags: .syn
        )
        let before = scenario.client.delivered.count
        scenario.resourceSends(stray)
        scenario.run(for: .milliseconds(200))
        #expect(scenario.client.delivered.count == before)
        #expect(scenario.gateway.state.stats[.unknownClient] == 1)
    }

    // MARK: DNS resources

    @Test func assignedIPsAreResolvedAndAnsweredThenTrafficIsTranslated() throws {
        var scenario = GatewayScenario(seed: 16)
        let connected = try scenario.connect(Self.dns)
        try #require(connected, "\(scenario.report())")
        let proxies: [IPAddress] = (1...4).map { .v4(IPv4Address(100, 96, 0, UInt8($0))) }
        scenario.clientSends(
            try P2PControlMessage.assignedIPs(
                resource: GatewayScenario.dnsResource,
                domain: "app.corp.example",
                proxyIPs: proxies
            ).makePacket()
        )
        scenario.run(for: .milliseconds(200))
        let request = DNSResolutionRequest(
            client: GatewayScenario.clientID,
            resource: GatewayScenario.dnsResource,
            domain: try DomainName("app.corp.example")
        )
        #expect(scenario.gateway.events.contains(.resolveDNS(request)))
        scenario.withGateway { state, now in
            state.handleDomainResolved(request, addresses: [IPAddress("10.9.9.9")!], now: now)
        }
        scenario.run(for: .milliseconds(200))
        let status = try #require(scenario.client.delivered.last)
        #expect(
            try P2PControlMessage(parsing: status)
                == .domainStatus(resource: GatewayScenario.dnsResource, domain: "app.corp.example", status: .active)
        )

        scenario.clientSends(Self.tcp(to: proxies[0], port: 443))
        scenario.run(for: .milliseconds(200))
        #expect(scenario.gateway.tunWrites.last?.destination == IPAddress("10.9.9.9"))
    }

    @Test func assignedIPsForAResourceNotAuthorizedIsAnsweredInactiveWithoutResolving() throws {
        var scenario = GatewayScenario(seed: 17)
        let connected = try scenario.connect(Self.cidr)
        try #require(connected, "\(scenario.report())")
        let proxies: [IPAddress] = (1...4).map { .v4(IPv4Address(100, 96, 0, UInt8($0))) }
        scenario.clientSends(
            try P2PControlMessage.assignedIPs(
                resource: GatewayScenario.dnsResource,
                domain: "app.corp.example",
                proxyIPs: proxies
            )
            .makePacket()
        )
        scenario.run(for: .milliseconds(200))
        let status = try #require(scenario.client.delivered.last)
        #expect(
            try P2PControlMessage(parsing: status)
                == .domainStatus(resource: GatewayScenario.dnsResource, domain: "app.corp.example", status: .inactive)
        )
        #expect(!scenario.gateway.events.contains { if case .resolveDNS = $0 { true } else { false } })
    }

    // MARK: Closing

    @Test func rejectingTheLastResourceSaysGoodbyeAndClosesTheConnection() throws {
        var scenario = GatewayScenario(seed: 18)
        let connected = try scenario.connect(Self.cidr)
        try #require(connected, "\(scenario.report())")
        scenario.portal(
            .rejectAccess(RejectAccess(clientID: GatewayScenario.clientID, resourceID: GatewayScenario.cidrResource))
        )
        scenario.run(for: .milliseconds(200))
        #expect(scenario.client.delivered.contains(where: Self.isGoodbye))
        #expect(scenario.gateway.state.client(GatewayScenario.clientID) == nil)
        #expect(!scenario.gateway.state.isConnected(to: GatewayScenario.clientID))
    }

    @Test func rejectingOneOfTwoResourcesKeepsTheConnection() throws {
        var scenario = GatewayScenario(seed: 19)
        let connected = try scenario.connect(Self.cidr)
        try #require(connected, "\(scenario.report())")
        scenario.portal(.authorizeFlow(GatewayScenario.flow(Self.dns, ref: "ref-2")))
        scenario.portal(
            .rejectAccess(RejectAccess(clientID: GatewayScenario.clientID, resourceID: GatewayScenario.cidrResource))
        )
        scenario.run(for: .milliseconds(200))
        #expect(!scenario.client.delivered.contains(where: Self.isGoodbye))
        #expect(scenario.gateway.state.client(GatewayScenario.clientID)?.resources == [GatewayScenario.dnsResource])
        #expect(scenario.gateway.state.isConnected(to: GatewayScenario.clientID))
    }

    /// The gateway remembers a flow's client and verdict; revoking the resource refuses the flow's very next packet
    /// each way, while the client keeps its connection for its other resource.
    @Test func revokedResourceRefusesTheFlowsNextPacketEachWay() throws {
        var scenario = GatewayScenario(seed: 27)
        let connected = try scenario.connect(Self.cidr)
        try #require(connected, "\(scenario.report())")
        scenario.portal(.authorizeFlow(GatewayScenario.flow(Self.dns, ref: "ref-2")))
        let packet = Self.tcp(to: GatewayScenario.resourceAddress, port: 80)
        let reply = Self.reply(from: GatewayScenario.resourceAddress, port: 80)
        for _ in 0..<2 {
            scenario.clientSends(packet)
            scenario.resourceSends(reply)
            scenario.run(for: .milliseconds(200))
        }
        #expect(scenario.gateway.tunWrites == [packet, packet])
        #expect(scenario.client.delivered.filter { $0 == reply }.count == 2)

        scenario.portal(
            .rejectAccess(RejectAccess(clientID: GatewayScenario.clientID, resourceID: GatewayScenario.cidrResource))
        )
        scenario.clientSends(packet)
        scenario.resourceSends(reply)
        scenario.run(for: .milliseconds(200))
        #expect(scenario.gateway.tunWrites == [packet, packet])
        #expect(scenario.client.delivered.filter { $0 == reply }.count == 2)
        #expect(scenario.gateway.state.stats[.notAuthorized] == 1)
        #expect(scenario.gateway.state.stats[.unauthorizedSource] == 1)
        #expect(scenario.gateway.state.isConnected(to: GatewayScenario.clientID))
    }

    @Test func expiredAuthorizationIsEvictedOnTheNextTickAndTheClientToldGoodbye() throws {
        var scenario = GatewayScenario(seed: 20)
        // Connecting takes about 2.5 s of the 10 (the relay allocations first).
        let expiry = scenario.unixSeconds + 10
        let connected = try scenario.connect(Self.cidr, expiresAt: expiry)
        try #require(connected, "\(scenario.report())")
        scenario.run(for: .seconds(5))
        #expect(scenario.gateway.state.client(GatewayScenario.clientID) != nil)
        scenario.run(for: .seconds(4))
        #expect(scenario.gateway.state.client(GatewayScenario.clientID) == nil)
        #expect(scenario.client.delivered.contains(where: Self.isGoodbye))
    }

    @Test func expiryUpdateKeepsTheAuthorizationPastItsFirstExpiry() throws {
        var scenario = GatewayScenario(seed: 21)
        scenario.start()
        let expiry = scenario.unixSeconds + 5
        try scenario.authorize(Self.cidr, expiresAt: expiry)
        scenario.portal(
            .accessAuthorizationExpiryUpdated(
                AccessAuthorizationExpiryUpdated(
                    clientID: GatewayScenario.clientID,
                    resourceID: GatewayScenario.cidrResource,
                    expiresAt: expiry + 60
                )
            )
        )
        scenario.run(for: .seconds(8))
        #expect(scenario.gateway.state.client(GatewayScenario.clientID)?.resources == [GatewayScenario.cidrResource])
    }

    @Test func closeSaysGoodbyeToEveryClientAndReportsWhenDone() throws {
        var scenario = GatewayScenario(seed: 22)
        let connected = try scenario.connect(Self.cidr)
        try #require(connected, "\(scenario.report())")
        scenario.withGateway { state, now in state.close(now: now) }
        #expect(scenario.gateway.state.isClosed)
        scenario.run(for: .milliseconds(200))
        #expect(scenario.client.delivered.contains(where: Self.isGoodbye))
    }

    @Test func clientGoodbyeRemovesItsAuthorizations() throws {
        var scenario = GatewayScenario(seed: 23)
        let connected = try scenario.connect(Self.cidr)
        try #require(connected, "\(scenario.report())")
        scenario.clientSends(try P2PControlMessage.goodbye.makePacket())
        scenario.run(for: .milliseconds(200))
        #expect(scenario.gateway.state.client(GatewayScenario.clientID) == nil)
        #expect(!scenario.gateway.state.isConnected(to: GatewayScenario.clientID))
    }

    @Test func failedConnectionKeepsTheClientsAuthorizations() throws {
        var scenario = GatewayScenario(seed: 24)
        let connected = try scenario.connect(Self.cidr)
        try #require(connected, "\(scenario.report())")
        // The client vanishes without a goodbye: the gateway's checks go unanswered until the connection fails.
        scenario.simulation.withNode(GatewayScenario.client, as: ClientHost.self) { host, now in
            host.change { $0.removeConnection(GatewayScenario.gatewayConnection, now: now) }
        }
        // Idle after 10 s, then a check a minute and four missed (ICE's ConnectionTiming): about five minutes.
        let failed = scenario.run(for: .seconds(400)) { simulation in
            !simulation.node(GatewayScenario.gateway, as: GatewayHost.self).state.isConnected(
                to: GatewayScenario.clientID
            )
        }
        try #require(failed, "\(scenario.report())")
        #expect(scenario.gateway.state.client(GatewayScenario.clientID)?.resources == [GatewayScenario.cidrResource])
    }
}
