import ConnlibCore
import FirezoneTime
import IPPacket
import NIOCore
import PortalMessages
import Testing

/// DNS over TCP to the sentinels: the client's TCP responder hands each query to the stub and frames its answer
/// back, whichever way the stub resolves it.
@Suite struct ClientStateDNSOverTCPTests {
    static let sentinel = ClientStateDNSTests.sentinel
    static let application = IPSocketAddress(.v4(ClientHarness.clientTunV4), port: 41000)

    /// Hands `packet` to the client's TUN input and returns what the client wrote to its TUN device.
    static func exchange(_ packet: IPPacket, _ harness: inout ClientHarness) -> [IPPacket] {
        let before = harness.tunWrites.count
        harness.tunInput(packet)
        return Array(harness.tunWrites[before...])
    }

    /// Feeds segments to the application's connection and its acknowledgments back to the client.
    static func take(_ packets: [IPPacket], _ connection: inout DNSTCPTestClient, _ harness: inout ClientHarness) throws
    {
        var pending = packets[...]
        while let packet = pending.popFirst() {
            if let reply = try connection.handle(packet) {
                pending.append(contentsOf: Self.exchange(reply, &harness))
            }
        }
    }

    /// Connects to the sentinel and sends `query`.
    static func ask(
        _ query: ByteBuffer,
        _ harness: inout ClientHarness
    ) throws -> DNSTCPTestClient {
        var connection = DNSTCPTestClient(local: Self.application, remote: IPSocketAddress(Self.sentinel, port: 53))
        try Self.take(Self.exchange(try connection.syn(), &harness), &connection, &harness)
        #expect(connection.connected)
        try Self.take(
            Self.exchange(try connection.send(DNSTCPTestClient.framed(query)), &harness),
            &connection,
            &harness
        )
        return connection
    }

    static func query(_ name: String, type: DNSRecordType = .a, id: UInt16 = 0x5151) throws -> ByteBuffer {
        DNSMessage.makeQuery(id: id, question: DNSQuestion(name: try DomainName(name), type: type))
    }

    @Test func aTCPQueryForAResourceIsAnsweredWithProxyAddresses() throws {
        var harness = ClientStateDNSTests.harness()
        let connection = try Self.ask(try Self.query("app.corp.example"), &harness)
        let answer = try #require(connection.answers.first)
        let addresses = try DNSMessage(parsingResponse: answer).answerAddresses
        #expect(addresses.count == 4)
        #expect(addresses.allSatisfy { AddressPlan.proxyV4.contains($0) })
        #expect(harness.client.dnsOverTCPStats.queriesReceived == 1)
        #expect(harness.client.stats[.unknownSentinel] == 0)
    }

    @Test func aTCPQueryForAnotherNameIsRecursedOverTCPAndItsTwoKilobyteAnswerArrivesWhole() throws {
        var harness = ClientStateDNSTests.harness()
        let query = try Self.query("big.example.com")
        var connection = try Self.ask(query, &harness)
        let polled = harness.client.pollDNSQuery()
        let recursive = try #require(polled)
        #expect(recursive.transport == .tcp)
        #expect(recursive.server == ClientStateDNSTests.publicResolver)
        #expect(recursive.query == query)

        let records = (0..<128).map { DNSAnswer.address(.v4(IPv4Address(10, 1, UInt8($0 / 256), UInt8($0 % 256)))) }
        let answer = try DNSMessage(parsingQuery: query).makeResponse(code: .noError, answers: records, ttl: 60)
        #expect(answer.readableBytes > 2048)
        let before = harness.tunWrites.count
        harness.client.handleDNSResponse(recursive, result: .success(answer), now: harness.clock.now)
        harness.deliver()
        let segments = Array(harness.tunWrites[before...])
        #expect(segments.count > 1)
        try Self.take(segments, &connection, &harness)
        #expect(connection.answers == [answer])
    }

    @Test func anAnswerTooLargeForTheMTUGoesBackOverUDPTruncatedSoTheApplicationAsksOverTCP() throws {
        var harness = ClientStateDNSTests.harness()
        let query = try ClientHarness.dnsQuery("big.example.com", to: Self.sentinel)
        harness.tunInput(query)
        let polled = harness.client.pollDNSQuery()
        let recursive = try #require(polled)
        let records = (0..<128).map { DNSAnswer.address(.v4(IPv4Address(10, 1, 0, UInt8($0)))) }
        let answer = try DNSMessage(parsingQuery: query.payload).makeResponse(code: .noError, answers: records)
        harness.client.handleDNSResponse(recursive, result: .success(answer), now: harness.clock.now)
        harness.deliver()
        let reply = try #require(harness.tunWrites.last)
        let truncated = try DNSMessage(parsingResponse: reply.payload)
        #expect(truncated.isTruncated)
        #expect(truncated.id == 0x4242)
        #expect(truncated.question == (try DNSMessage(parsingQuery: query.payload)).question)
        #expect(truncated.answers.isEmpty)
        #expect(harness.client.stats[.malformed] == 0)
    }

    @Test func aUDPQueryIsStillRecursedOverUDP() throws {
        var harness = ClientStateDNSTests.harness()
        harness.tunInput(try ClientHarness.dnsQuery("example.com", to: Self.sentinel))
        let polled = harness.client.pollDNSQuery()
        #expect(polled?.transport == .udp)
    }

    @Test func srvOverTCPWaitsForTheFlowAndItsGatewaysAnswerComesBackOnTheConnection() throws {
        var harness = ClientStateDNSTests.harness()
        let query = try Self.query("_ldap._tcp.corp.example", type: .srv, id: 0x7777)
        var connection = try Self.ask(query, &harness)
        #expect(harness.createFlows.map(\.resourceID) == [ClientStateDNSTests.dnsResource.id])
        try harness.authorize(ClientStateDNSTests.dnsResource.id)
        harness.run(for: .seconds(3))
        let forwarded = try #require(harness.gatewayReceived.last)
        #expect(forwarded.destination == .v4(ClientHarness.gatewayTunV4))
        #expect(forwarded.udp?.destinationPort == AddressPlan.gatewayDNSPort)
        #expect(forwarded.payload == query)

        let answer = try DNSMessage(parsingQuery: query).makeResponse(code: .nameError)
        let before = harness.tunWrites.count
        try harness.gatewaySends(
            try IPPacket.makeUDP(
                source: .v4(ClientHarness.gatewayTunV4),
                sourcePort: AddressPlan.gatewayDNSPort,
                destination: forwarded.source,
                destinationPort: try #require(forwarded.udp?.sourcePort),
                payload: answer
            )
        )
        #expect(harness.clientReceived.isEmpty)
        try Self.take(Array(harness.tunWrites[before...]), &connection, &harness)
        #expect(connection.answers == [answer])
    }

    @Test func aTCPQueryForAnUpstreamWhoseResourceDeniesUDP53GetsServfailOnItsConnectionWithoutAFlow() throws {
        var harness = ClientStateDNSTests.harness(
            lan: ClientStateDNSTests.lan(filters: [.tcp(ports: 53...53)]),
            upstream: ClientStateDNSTests.resolverInLAN
        )
        let query = try Self.query("example.com")
        let connection = try Self.ask(query, &harness)
        #expect(connection.answers == [try DNSMessage(parsingQuery: query).makeServerFailure()])
        #expect(harness.createFlows.isEmpty)
        #expect(harness.client.stats[.dnsUpstreamFiltered] == 1)
    }

    /// Recursion through the tunnel carries a TCP query as UDP, so UDP to port 53 is what the filters must permit.
    @Test func aTCPQueryForAnUpstreamWhoseResourcePermitsUDP53GoesThroughTheTunnelAsUDP() throws {
        var harness = ClientStateDNSTests.harness(
            lan: ClientStateDNSTests.lan(filters: [.udp(ports: 53...53)]),
            upstream: ClientStateDNSTests.resolverInLAN
        )
        let connection = try Self.ask(try Self.query("example.com"), &harness)
        #expect(connection.answers.isEmpty)
        #expect(harness.createFlows.map(\.resourceID) == [ClientHarness.cidrResource.id])
        #expect(harness.client.stats[.dnsUpstreamFiltered] == 0)
    }

    @Test func aMalformedQueryOverTCPResetsTheConnection() throws {
        var harness = ClientStateDNSTests.harness()
        var garbage = ByteBuffer()
        garbage.writeRepeatingByte(0xFF, count: 5)
        let connection = try Self.ask(garbage, &harness)
        #expect(connection.reset)
        #expect(harness.client.dnsOverTCPStats[.malformedQuery] == 1)
    }
}
