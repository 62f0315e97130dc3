import Connlib
import ConnlibCore
import FirezoneTesting
import FirezoneTime
import Glibc
import IPPacket
import LinuxIO
import Logging
import NIOCore
import PortalMessages
import Testing

/// A nameserver on loopback and the resolver on one ``EventLoopDriver``, as the gateway's loop runs them.
private final class ResolverBench: EventLoopHandler {
    static let serverToken: UInt64 = 1
    let driver: EventLoopDriver
    let server: Int32
    var resolver: DomainResolver!
    var completions: [DomainResolver.Completion] = []
    /// The source port of every query the nameserver saw.
    var queryPorts: [UInt16] = []
    let answers: [IPAddress]
    private var reply: ByteBuffer?

    init(answers: [IPAddress]) throws {
        self.driver = try EventLoopDriver()
        self.server = bindUDP(.v4(IPv4Address(127, 0, 0, 1)), port: 0, receiveBuffer: 0, sendBuffer: 0)
        self.answers = answers
        try #require(self.server >= 0)
        try self.driver.register(udp: self.server, token: Self.serverToken)
        let port = try #require(TunnelSockets.localPort(of: self.server))
        self.resolver = DomainResolver(
            nameservers: [IPSocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: port)],
            driver: self.driver,
            tokenBase: 1 << 32,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    deinit {
        self.resolver = nil
        close(self.server)
    }

    static func request(_ domain: String) throws -> DNSResolutionRequest {
        DNSResolutionRequest(
            client: ClientID("client"),
            resource: ResourceID("resource"),
            domain: try DomainName(domain)
        )
    }

    /// Turns the loop until `count` lookups completed, for at most five seconds.
    func run(until count: Int) throws {
        let clock = ContinuousClock()
        let end = clock.now + .seconds(5)
        while self.completions.count < count && clock.now < end {
            try self.driver.turn(self)
        }
    }

    /// Never nil, so that a turn never blocks for good and ``run(until:)`` keeps to its bound.
    func nextDeadline() -> Instant? {
        self.resolver.nextDeadline() ?? self.driver.clock.now() + .milliseconds(100)
    }

    func handleTimeout(now: Instant) {
        self.completions += self.resolver.expire(now: now)
    }

    func handleReadable(source: UInt64, now: Instant) {
        if let completion = self.resolver.handleReadable(token: source, now: now) {
            self.completions.append(completion)
        }
    }

    /// The nameserver: answers each query with the addresses of its type.
    func handleDatagram(_ datagram: inout ByteBuffer, received: fz_datagram, source: UInt64, now: Instant) {
        guard let query = try? DNSMessage(parsingQuery: datagram), let question = query.question else {
            return
        }
        self.queryPorts.append(received.socketAddress.port)
        let matching = self.answers.filter { ($0.version == .v4) == (question.type == .a) }
        var response = query.makeResponse(code: .noError, answers: matching.map { .address($0) }, ttl: 60)
        var out = fz_datagram()
        out.setDestination(received.socketAddress)
        var failed: UInt32 = 0
        response.withUnsafeMutableReadableBytes { raw in
            out.bytes = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            out.length = UInt32(raw.count)
            _ = fz_udp_send_batch(self.server, &out, 1, &failed)
        }
    }
}

struct DomainResolverTests {
    @Test func nameserversComeFromResolvConfInOrderOnPort53WithGlibcsDefault() {
        let text = """
            # comment
            search example.com
            nameserver 192.0.2.53
            nameserver fe80::1%eth0
            nameserver not-an-address
            options edns0
            """
        #expect(
            DomainResolver.nameservers(resolvConf: text) == [
                IPSocketAddress(.v4(IPv4Address(192, 0, 2, 53)), port: 53),
                IPSocketAddress(.v6(IPv6Address("fe80::1")!), port: 53),
            ]
        )
        #expect(
            DomainResolver.nameservers(resolvConf: "") == [IPSocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: 53)]
        )
    }

    @Test func aLookupAsksForAAndAAAAAndReturnsTheAddressesOfBothAnswers() throws {
        let v4 = IPAddress.v4(IPv4Address(192, 0, 2, 7))
        let v6 = IPAddress.v6(IPv6Address("2001:db8::7")!)
        let bench = try ResolverBench(answers: [v4, v6])
        let request = try ResolverBench.request("app.example.com")
        #expect(bench.resolver.start(request, now: bench.driver.clock.now()) == nil)
        try bench.run(until: 1)
        let completion = try #require(bench.completions.first)
        #expect(completion.request == request)
        #expect(Set(try #require(completion.addresses)) == [v4, v6])
        #expect(bench.resolver.pendingCount == 0)
    }

    /// A fixed source port makes spoofed answers easier to land (RFC 5452 §9.2).
    @Test func everyLookupLeavesFromANewSourcePort() throws {
        let bench = try ResolverBench(answers: [.v4(IPv4Address(192, 0, 2, 1))])
        let now = bench.driver.clock.now()
        #expect(bench.resolver.start(try ResolverBench.request("a.example.com"), now: now) == nil)
        #expect(bench.resolver.start(try ResolverBench.request("b.example.com"), now: now) == nil)
        try bench.run(until: 2)
        #expect(bench.queryPorts.count == 4)
        #expect(Set(bench.queryPorts).count == 2)
    }

    @Test func refusedLookupsAreCountedAndWarnedAboutOncePerInterval() throws {
        let records = InMemoryLogHandler.Records()
        let resolver = DomainResolver(
            nameservers: [],
            driver: try EventLoopDriver(),
            tokenBase: 1 << 32,
            logger: records.logger(label: "test")
        )
        let now = Instant(nanoseconds: 1_000_000_000)
        let request = try ResolverBench.request("many.example.com")
        for _ in 0..<100 {
            #expect(resolver.start(request, now: now) == DomainResolver.Completion(request: request, addresses: nil))
        }
        let warningsAtFirst = records.warningsAndErrors.count
        _ = resolver.start(request, now: now + DomainResolver.refusalWarningInterval)

        #expect(resolver.refusedLookups == 101)
        #expect(warningsAtFirst == 1)
        #expect(records.warningsAndErrors.count == 2)
        #expect(records.warningsAndErrors.last?.metadata.contains { $0 == ("refused", "100") } == true)
    }

    @Test func aLookupNobodyAnswersFailsAtItsTenSecondDeadline() throws {
        let driver = try EventLoopDriver()
        // A socket that never answers.
        let silent = bindUDP(.v4(IPv4Address(127, 0, 0, 1)), port: 0, receiveBuffer: 0, sendBuffer: 0)
        try #require(silent >= 0)
        defer { close(silent) }
        let port = try #require(TunnelSockets.localPort(of: silent))
        let resolver = DomainResolver(
            nameservers: [IPSocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: port)],
            driver: driver,
            tokenBase: 1 << 32,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let now = Instant(nanoseconds: 1_000_000_000)
        let request = try ResolverBench.request("slow.example.com")
        #expect(resolver.start(request, now: now) == nil)
        #expect(resolver.nextDeadline() == now + .seconds(10))
        #expect(resolver.expire(now: now + .seconds(10) - .nanoseconds(1)).isEmpty)
        #expect(
            resolver.expire(now: now + .seconds(10)) == [DomainResolver.Completion(request: request, addresses: nil)]
        )
        #expect(resolver.pendingCount == 0)
    }
}
