import Connlib
import ConnlibCore
import FirezoneTesting
import FirezoneTime
import Glibc
import HeadlessClient
import IPPacket
import Logging
import NIOCore
import Testing

struct UpstreamDNSClientTests {
    static let start = Instant(nanoseconds: 1_000_000_000)
    static let application = IPSocketAddress(.v4(IPv4Address(rawValue: 0x6440_0001)), port: 40_000)
    static let sentinel = IPSocketAddress(.v4(IPv4Address(rawValue: 0x6464_6f01)), port: 53)

    static func makeClient(maximumInFlight: Int = 8, mark: UInt32? = nil) throws -> UpstreamDNSClient {
        try UpstreamDNSClient(
            maximumInFlight: maximumInFlight,
            mark: mark,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        )
    }

    static func query(_ id: UInt16, to server: IPSocketAddress) -> RecursiveDNSQuery {
        RecursiveDNSQuery(
            server: server,
            query: LoopbackDNSServer.query(id: id),
            client: Self.application,
            sentinel: Self.sentinel
        )
    }

    /// Serves the client and the server from this thread until `count` outcomes came (at most 5 s of wall time).
    static func outcomes(
        _ count: Int,
        client: UpstreamDNSClient,
        server: LoopbackDNSServer
    ) -> [UpstreamDNSClient.Outcome] {
        var outcomes: [UpstreamDNSClient.Outcome] = []
        let giveUp = ContinuousClock.now + .seconds(5)
        while outcomes.count < count && ContinuousClock.now < giveUp {
            var descriptors = ([client.descriptor] + server.descriptors).map {
                pollfd(fd: $0, events: Int16(POLLIN), revents: 0)
            }
            _ = poll(&descriptors, nfds_t(descriptors.count), 50)
            server.serve()
            client.handleReadable(now: Self.start)
            while let outcome = client.pollOutcome() {
                outcomes.append(outcome)
            }
        }
        return outcomes
    }

    @Test func answersAQueryOverUDP() throws {
        let server = try LoopbackDNSServer(behaviour: .answer(padding: 16))
        let client = try Self.makeClient()
        let query = Self.query(0x1234, to: server.address)
        client.send(query, over: .udp, now: Self.start)

        let outcomes = Self.outcomes(1, client: client, server: server)

        let outcome = try #require(outcomes.first)
        #expect(outcome.query == query)
        let expected = LoopbackDNSServer.answer(to: Array(buffer: query.query), padding: 16)
        #expect(try outcome.result.get() == ByteBuffer(bytes: expected))
        #expect(client.inFlight == 0)
        #expect(server.tcpQueries.isEmpty)
    }

    @Test func everyQueryLeavesFromANewSourcePort() throws {
        let server = try LoopbackDNSServer(behaviour: .answer(padding: 0))
        let client = try Self.makeClient()
        for id in UInt16(1)...4 {
            client.send(Self.query(id, to: server.address), over: .udp, now: Self.start)
        }

        let outcomes = Self.outcomes(4, client: client, server: server)

        #expect(outcomes.count == 4)
        #expect(Set(server.udpQueries.map(\.from)).count == 4)
    }

    @Test func retriesATruncatedAnswerOverTCPAndReadsTwoKilobytes() throws {
        let server = try LoopbackDNSServer(behaviour: .truncateOverUDP(padding: 2_048))
        let client = try Self.makeClient()
        let query = Self.query(0xbeef, to: server.address)
        client.send(query, over: .udp, now: Self.start)

        let outcomes = Self.outcomes(1, client: client, server: server)

        let answer = try #require(outcomes.first).result
        #expect(try answer.get().readableBytes == query.query.readableBytes + 2_048)
        #expect(server.udpQueries.count == 1)
        #expect(server.tcpQueries == [Array(buffer: query.query)])
        #expect(client.stats.retriedOverTCP == 1)
    }

    @Test func sendsOverTCPWhenAsked() throws {
        let server = try LoopbackDNSServer(behaviour: .answer(padding: 2_048))
        let client = try Self.makeClient()
        client.send(Self.query(7, to: server.address), over: .tcp, now: Self.start)

        let outcomes = Self.outcomes(1, client: client, server: server)

        #expect(try #require(outcomes.first).result.get().readableBytes > 2_048)
        #expect(server.udpQueries.isEmpty)
        #expect(server.tcpQueries.count == 1)
    }

    @Test func ignoresAnAnswerWithAnotherID() throws {
        let server = try LoopbackDNSServer(behaviour: .wrongIDFirst)
        let client = try Self.makeClient()
        let query = Self.query(0x0102, to: server.address)
        client.send(query, over: .udp, now: Self.start)

        let outcomes = Self.outcomes(1, client: client, server: server)

        let answer = try #require(outcomes.first).result.get()
        #expect(answer.getInteger(at: answer.readerIndex, as: UInt16.self) == 0x0102)
        #expect(client.stats.ignoredMessages == 1)
    }

    @Test func malformedAnswerFails() throws {
        let server = try LoopbackDNSServer(behaviour: .malformed)
        let client = try Self.makeClient()
        client.send(Self.query(9, to: server.address), over: .udp, now: Self.start)

        let outcomes = Self.outcomes(1, client: client, server: server)

        #expect(try #require(outcomes.first).result == .failure(.failed))
    }

    @Test func refusedQueryFails() throws {
        // A port nothing listens on: loopback answers with ICMP port unreachable, TCP with a RST.
        let server = try LoopbackDNSServer(behaviour: .silent)
        var closed = server.address
        closed.port = 1
        let client = try Self.makeClient()
        client.send(Self.query(1, to: closed), over: .udp, now: Self.start)
        client.send(Self.query(2, to: closed), over: .tcp, now: Self.start)

        let outcomes = Self.outcomes(2, client: client, server: server)

        #expect(outcomes.map(\.result) == [.failure(.failed), .failure(.failed)])
        #expect(client.inFlight == 0)
    }

    @Test func unansweredQueryTimesOut() throws {
        let server = try LoopbackDNSServer(behaviour: .silent)
        let client = try Self.makeClient()
        client.send(Self.query(3, to: server.address), over: .udp, now: Self.start)
        #expect(client.nextDeadline() == Self.start + UpstreamDNSClient.defaultTimeout)

        client.handleTimeout(now: Self.start + UpstreamDNSClient.defaultTimeout - .milliseconds(1))
        #expect(client.pollOutcome() == nil)
        client.handleTimeout(now: Self.start + UpstreamDNSClient.defaultTimeout)

        #expect(try #require(client.pollOutcome()).result == .failure(.timedOut))
        #expect(client.inFlight == 0)
        #expect(client.nextDeadline() == nil)
    }

    @Test func queriesBeyondTheBoundFailAtOnce() throws {
        let server = try LoopbackDNSServer(behaviour: .silent)
        let client = try Self.makeClient(maximumInFlight: 2)
        for id in UInt16(1)...3 {
            client.send(Self.query(id, to: server.address), over: .udp, now: Self.start)
        }

        let refused = try #require(client.pollOutcome())
        #expect(refused.result == .failure(.failed))
        #expect(refused.query.query == LoopbackDNSServer.query(id: 3))
        #expect(client.inFlight == 2)
        #expect(client.stats.refusedBusy == 1)
    }

    @Test(.enabled(if: PrivilegedTests.enabled)) func markedQueryIsAnswered() throws {
        let server = try LoopbackDNSServer(behaviour: .answer(padding: 0))
        let client = try Self.makeClient(mark: TunnelRouting.firewallMark)
        client.send(Self.query(5, to: server.address), over: .udp, now: Self.start)

        let outcomes = Self.outcomes(1, client: client, server: server)

        #expect(try #require(outcomes.first).result.get().readableBytes > 12)
        #expect(client.stats.failures == 0)
    }
}
