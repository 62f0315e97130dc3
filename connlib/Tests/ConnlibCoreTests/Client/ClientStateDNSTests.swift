import ConnlibCore
import FirezoneTime
import IPPacket
import NIOCore
import PortalMessages
import Testing

/// The client's DNS: queries to the sentinels go to the stub, whose answers, forwards and recursions the client
/// carries out.
@Suite struct ClientStateDNSTests {
    static let dnsResource = ClientResource.dns(
        DNSResource(
            id: ResourceID("30000000-0000-4000-8000-000000000001"),
            address: "**.corp.example",
            name: "Corp",
            addressDescription: nil,
            sites: [ClientHarness.site],
            ipStack: nil
        )
    )
    static let publicResolver = IPSocketAddress(.v4(IPv4Address(198, 51, 100, 53)), port: 53)
    static let resolverInLAN = IPSocketAddress(.v4(IPv4Address(10, 0, 0, 53)), port: 53)
    static let sentinel = IPAddress.v4(IPv4Address(100, 100, 111, 1))

    static func harness(
        lan: ClientResource = ClientHarness.cidrResource,
        upstream: IPSocketAddress = publicResolver
    ) -> ClientHarness {
        ClientHarness(
            resources: [lan, Self.dnsResource],
            upstreamDNS: [.ipPort(upstream)]
        )
    }

    /// The LAN of ``ClientHarness/cidrResource`` with these filters.
    static func lan(filters: [Filter]) -> ClientResource {
        .cidr(
            CIDRResource(
                id: ClientHarness.cidrResource.id,
                address: IPNetwork("10.0.0.0/24")!,
                name: "LAN",
                addressDescription: nil,
                sites: [ClientHarness.site],
                filters: filters
            )
        )
    }

    static func answer(in packet: IPPacket) throws -> DNSMessage {
        try DNSMessage(parsingResponse: packet.payload)
    }

    @Test func eachUpstreamGetsASentinelInTheTunConfig() throws {
        let harness = Self.harness()
        let config = try #require(harness.lastTunConfig)
        #expect(config.dnsBySentinel == [DNSSentinel(sentinel: Self.sentinel, upstream: Self.publicResolver)])
    }

    @Test func aResourceNameIsAnsweredWithProxyAddressesThatBecomeRoutes() throws {
        var harness = Self.harness()
        harness.tunInput(try ClientHarness.dnsQuery("app.corp.example", to: Self.sentinel))
        let reply = try #require(harness.tunWrites.first)
        #expect(reply.source == Self.sentinel)
        #expect(reply.udp?.sourcePort == 53)
        #expect(reply.destination == .v4(ClientHarness.clientTunV4))
        #expect(reply.udp?.destinationPort == 40000)
        let addresses = try Self.answer(in: reply).answerAddresses
        #expect(addresses.count == 4)
        #expect(addresses.allSatisfy { AddressPlan.proxyV4.contains($0) })
        let routes = try #require(harness.lastTunConfig?.routes)
        #expect(addresses.allSatisfy { routes.contains(IPNetwork(host: $0)) })
        #expect(harness.events.contains { if case .dnsRecordsChanged = $0 { true } else { false } })
        #expect(harness.client.dnsRecords.records.map(\.resource) == [Self.dnsResource.id])

        harness.tunInput(try ClientHarness.udp(to: addresses[0]))
        #expect(harness.createFlows.map(\.resourceID) == [Self.dnsResource.id])
    }

    @Test func proxyAddressesOfAnEarlierSessionRouteToTheirResourceAtOnce() throws {
        var first = Self.harness()
        first.tunInput(try ClientHarness.dnsQuery("app.corp.example", to: Self.sentinel))
        let records = first.client.dnsRecords
        let address = try #require(records.records.first?.proxyIPs.first)

        var second = ClientHarness(
            resources: [ClientHarness.cidrResource, Self.dnsResource],
            upstreamDNS: [.ipPort(Self.publicResolver)],
            dnsRecords: records
        )
        second.tunInput(try ClientHarness.udp(to: address))
        #expect(second.createFlows.map(\.resourceID) == [Self.dnsResource.id])
    }

    /// The gateway learns the proxy addresses of the name first (`AssignedIps`); packets wait for its
    /// `DomainStatus` active.
    @Test func packetsToAProxyAddressWaitUntilTheGatewayMappedTheName() throws {
        var harness = Self.harness()
        harness.tunInput(try ClientHarness.dnsQuery("app.corp.example", to: Self.sentinel))
        let reply = try #require(harness.tunWrites.first)
        let addresses = try Self.answer(in: reply).answerAddresses
        let proxy = try #require(addresses.first)
        harness.tunInput(try ClientHarness.udp(to: proxy, payload: "1"))
        try harness.authorize(Self.dnsResource.id)
        harness.run(for: .seconds(3))
        let control = try #require(harness.gatewayReceived.first)
        guard case .assignedIPs(let resource, let domain, let proxyIPs) = try P2PControlMessage(parsing: control) else {
            Issue.record("expected AssignedIps, got \(control)")
            return
        }
        #expect(resource == Self.dnsResource.id)
        #expect(domain == "app.corp.example")
        #expect(proxyIPs.count == 8)
        #expect(proxyIPs.filter { $0.version == .v4 } == addresses)
        #expect(harness.gatewayPayloads.count == 1)

        try harness.gatewaySends(
            try P2PControlMessage.domainStatus(resource: resource, domain: domain, status: .active).makePacket()
        )
        #expect(harness.gatewayReceived.last?.destination == proxy)
        #expect(harness.gatewayPayloads.last == "1")
        harness.tunInput(try ClientHarness.udp(to: proxy, payload: "2"))
        #expect(harness.gatewayPayloads.last == "2")
    }

    @Test func aNewAnswerForTheNameAsksTheGatewayAgainWhileTrafficFlows() throws {
        var harness = Self.harness()
        harness.tunInput(try ClientHarness.dnsQuery("app.corp.example", to: Self.sentinel))
        let reply = try #require(harness.tunWrites.first)
        let proxy = try #require(try Self.answer(in: reply).answerAddresses.first)
        harness.tunInput(try ClientHarness.udp(to: proxy, payload: "1"))
        try harness.authorize(Self.dnsResource.id)
        harness.run(for: .seconds(3))
        try harness.gatewaySends(
            try P2PControlMessage.domainStatus(
                resource: Self.dnsResource.id,
                domain: "app.corp.example",
                status: .active
            )
            .makePacket()
        )
        harness.tunInput(try ClientHarness.dnsQuery("app.corp.example", to: Self.sentinel, id: 7))
        harness.gatewayReceived.removeAll()
        harness.tunInput(try ClientHarness.udp(to: proxy, payload: "2"))
        #expect(harness.gatewayReceived.count == 2)
        #expect(harness.gatewayReceived.first?.isFZP2PControl == true)
        #expect(harness.gatewayPayloads.last == "2")
    }

    @Test func aGoneConnectionForgetsTheNameMappings() throws {
        var harness = Self.harness()
        harness.tunInput(try ClientHarness.dnsQuery("app.corp.example", to: Self.sentinel))
        let reply = try #require(harness.tunWrites.first)
        let proxy = try #require(try Self.answer(in: reply).answerAddresses.first)
        harness.tunInput(try ClientHarness.udp(to: proxy, payload: "1"))
        try harness.authorize(Self.dnsResource.id)
        harness.run(for: .seconds(3))
        try harness.gatewaySends(
            try P2PControlMessage.domainStatus(
                resource: Self.dnsResource.id,
                domain: "app.corp.example",
                status: .active
            )
            .makePacket()
        )
        try harness.gatewaySends(try P2PControlMessage.goodbye.makePacket())
        harness.gatewayReceived.removeAll()
        harness.run(for: .seconds(2))
        harness.tunInput(try ClientHarness.udp(to: proxy, payload: "2"))
        try harness.authorize(Self.dnsResource.id)
        harness.run(for: .seconds(3))
        // A new connection: the gateway learns the name again before the packet goes.
        let first = try #require(harness.gatewayReceived.first)
        #expect(first.isFZP2PControl)
    }

    @Test func otherNamesGoToTheShellAndItsFailureBecomesServfail() throws {
        var harness = Self.harness()
        harness.tunInput(try ClientHarness.dnsQuery("example.com", to: Self.sentinel))
        #expect(harness.tunWrites.isEmpty)
        let polled = harness.client.pollDNSQuery()
        let query = try #require(polled)
        #expect(query.server == Self.publicResolver)
        #expect(query.sentinel == IPSocketAddress(Self.sentinel, port: 53))
        #expect(query.client == IPSocketAddress(.v4(ClientHarness.clientTunV4), port: 40000))

        harness.client.handleDNSResponse(query, result: .failure(.timedOut), now: harness.clock.now)
        harness.deliver()
        #expect(harness.tunWrites.isEmpty)
        harness.client.handleDNSResponse(query, result: .failure(.failed), now: harness.clock.now)
        harness.deliver()
        let reply = try #require(harness.tunWrites.first)
        #expect(try Self.answer(in: reply).responseCode == .serverFailure)
        #expect(reply.source == Self.sentinel)
    }

    @Test func aQueryForAnUpstreamInsideAResourceGoesThroughTheTunnelAndComesBackFromTheSentinel() throws {
        var harness = Self.harness(upstream: Self.resolverInLAN)
        harness.tunInput(try ClientHarness.dnsQuery("example.com", to: Self.sentinel))
        let polled = harness.client.pollDNSQuery()
        #expect(polled == nil)
        #expect(harness.createFlows.map(\.resourceID) == [ClientHarness.cidrResource.id])
        try harness.authorize(ClientHarness.cidrResource.id)
        harness.run(for: .seconds(3))
        let query = try #require(harness.gatewayReceived.first)
        #expect(query.destination == Self.resolverInLAN.address)
        #expect(query.udp?.destinationPort == 53)

        var answer = ByteBuffer()
        answer.writeString("answer")
        try harness.gatewaySends(
            try IPPacket.makeUDP(
                source: Self.resolverInLAN.address,
                sourcePort: 53,
                destination: .v4(ClientHarness.clientTunV4),
                destinationPort: 40000,
                payload: answer
            )
        )
        let delivered = try #require(harness.clientReceived.first)
        #expect(delivered.source == Self.sentinel)
        #expect(delivered.udp?.sourcePort == 53)
        #expect(delivered.hasValidChecksums)
    }

    @Test func aQueryForAnUpstreamWhoseResourceDeniesUDP53IsAnsweredServfailWithoutAFlow() throws {
        var harness = Self.harness(lan: Self.lan(filters: [.tcp(ports: 53...53)]), upstream: Self.resolverInLAN)
        let query = try ClientHarness.dnsQuery("example.com", to: Self.sentinel)
        harness.tunInput(query)
        #expect(harness.createFlows.isEmpty)
        #expect(harness.client.pollDNSQuery() == nil)
        #expect(harness.client.stats[.dnsUpstreamFiltered] == 1)
        #expect(harness.tunWrites.count == 1)
        let reply = try #require(harness.tunWrites.first)
        #expect(reply.source == Self.sentinel)
        #expect(reply.udp?.sourcePort == 53)
        #expect(reply.destination == query.source)
        #expect(reply.udp?.destinationPort == query.udp?.sourcePort)
        let answer = try Self.answer(in: reply)
        #expect(answer.responseCode == .serverFailure)
        #expect(answer.id == 0x4242)
    }

    @Test func aQueryForAnUpstreamWhoseResourcePermitsUDP53GoesThroughTheTunnel() throws {
        var harness = Self.harness(lan: Self.lan(filters: [.udp(ports: 53...53)]), upstream: Self.resolverInLAN)
        harness.tunInput(try ClientHarness.dnsQuery("example.com", to: Self.sentinel))
        #expect(harness.tunWrites.isEmpty)
        #expect(harness.createFlows.map(\.resourceID) == [ClientHarness.cidrResource.id])
        #expect(harness.client.stats[.dnsUpstreamFiltered] == 0)
    }

    @Test func srvForAResourceWithoutAFlowWaitsForItThenGoesToItsGatewaysDNSServer() throws {
        var harness = Self.harness()
        let srv = try ClientHarness.dnsQuery("_ldap._tcp.corp.example", type: .srv, to: Self.sentinel)
        harness.tunInput(srv)
        #expect(harness.createFlows.map(\.resourceID) == [Self.dnsResource.id])
        #expect(harness.client.stats[.flowFailed] == 0)
        try harness.authorize(Self.dnsResource.id)
        harness.run(for: .seconds(3))
        // The first query of the session, asked once, reaches the gateway once the flow is up.
        let query = try #require(harness.gatewayReceived.last)
        #expect(query.destination == .v4(ClientHarness.gatewayTunV4))
        #expect(query.udp?.destinationPort == AddressPlan.gatewayDNSPort)
        #expect(query.payload == srv.payload)
    }

    @Test func llmnrForAResourceNameIsAnsweredAndOtherwiseSilent() throws {
        var harness = Self.harness()
        harness.tunInput(try ClientHarness.dnsQuery("app.corp.example", to: AddressPlan.llmnrV4, port: 5355))
        let reply = try #require(harness.tunWrites.first)
        #expect(try Self.answer(in: reply).answerAddresses.count == 4)
        harness.tunInput(try ClientHarness.dnsQuery("printer", to: AddressPlan.llmnrV4, port: 5355))
        #expect(harness.tunWrites.count == 1)
        let polled = harness.client.pollDNSQuery()
        #expect(polled == nil)
    }

    @Test func aQueryToASentinelWithoutUpstreamIsDropped() throws {
        var harness = Self.harness()
        harness.tunInput(try ClientHarness.dnsQuery("example.com", to: .v4(IPv4Address(100, 100, 111, 9))))
        #expect(harness.client.stats[.unknownSentinel] == 1)
        #expect(harness.tunWrites.isEmpty)
        let polled = harness.client.pollDNSQuery()
        #expect(polled == nil)
    }
}
