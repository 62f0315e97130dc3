import ConnlibCore
import IPPacket
import NIOCore
import PortalMessages
import Testing

@Suite struct StubResolverTests {
    static let sentinel = IPAddress.v4(IPv4Address(100, 100, 111, 1))
    static let corp = ResourceID("corp")
    static let wildcard = ResourceID("wildcard")

    static func dns(_ id: ResourceID, _ address: String, ipStack: String? = nil) -> ClientResource {
        .dns(DNSResource(id: id, address: address, name: address, addressDescription: nil, sites: [], ipStack: ipStack))
    }

    static func cidr(_ address: String) -> ClientResource {
        .cidr(
            CIDRResource(
                id: ResourceID(address),
                address: IPNetwork(address)!,
                name: address,
                addressDescription: nil,
                sites: []
            )
        )
    }

    static let internet = ClientResource.internet(
        InternetResource(id: ResourceID("internet"), name: nil, sites: [], canBeDisabled: true)
    )

    static func v4(_ text: String) -> IPAddress { .v4(IPv4Address(text)!) }
    static func v6(_ text: String) -> IPAddress { .v6(IPv6Address(text)!) }

    /// A stub with `resources` and one portal upstream, 1.1.1.1:53, on sentinel 100.100.111.1.
    static func stub(_ resources: [ClientResource], records: ProxyIPSnapshot = .empty) -> StubResolver {
        var stub = StubResolver(records: records)
        stub.setResources(resources)
        stub.setUpstreams(portal: [.ipPort(IPSocketAddress("1.1.1.1:53")!)], system: [])
        return stub
    }

    /// The answer's message and its report, or a failed expectation.
    static func answer(_ decision: StubResolverDecision) throws -> (DNSMessage, ResolvedResourceName?) {
        guard case .answer(let bytes, let resolved) = decision else {
            Issue.record("expected an answer, got \(decision)")
            throw AnswerExpected()
        }
        return (try DNSMessage(parsingResponse: bytes), resolved)
    }

    struct AnswerExpected: Error {}

    // MARK: Answers for DNS resources

    @Test func anAQueryForAResourceNameIsAnsweredWithFourProxyIPv4AddressesAndTTLOneSecond() throws {
        var stub = Self.stub([Self.dns(Self.corp, "app.corp")])
        let (response, resolved) = try Self.answer(
            stub.handleQuery(DNSBytes.query("app.corp"), sentinel: Self.sentinel)
        )
        #expect(response.responseCode == .noError)
        #expect(response.answerAddresses == (1...4).map { Self.v4("100.96.0.\($0)") })
        #expect(response.answers.allSatisfy { $0.ttl == 1 })
        #expect(resolved?.record.resource == Self.corp && resolved?.newlyAssigned == true)
    }

    @Test func anAAAAQueryIsAnsweredWithFourProxyIPv6AddressesStartingAfterTheAnycastAddress() throws {
        var stub = Self.stub([Self.dns(Self.corp, "app.corp")])
        let (response, _) = try Self.answer(
            stub.handleQuery(DNSBytes.query("app.corp", type: 28), sentinel: Self.sentinel)
        )
        #expect(response.answerAddresses == (1...4).map { Self.v6("fd00:2021:1111:8000::\($0)") })
    }

    @Test func aDualStackNameGetsFourAddressesOfEachFamilyReportedTogether() throws {
        var stub = Self.stub([Self.dns(Self.corp, "app.corp")])
        let (_, resolved) = try Self.answer(stub.handleQuery(DNSBytes.query("app.corp"), sentinel: Self.sentinel))
        let record = try #require(resolved?.record)
        #expect(record.proxyIPs.count == 8)
        #expect(record.proxyIPs.prefix(4).allSatisfy { $0.version == .v4 })
        #expect(record.proxyIPs.suffix(4).allSatisfy { $0.version == .v6 })
        #expect(record.domain == (try DomainName("app.corp")))
    }

    @Test func proxyAddressesStayTheSameForTheNameAndAreNewOnlyTheFirstTime() throws {
        var stub = Self.stub([Self.dns(Self.corp, "**.corp")])
        let (first, firstResolved) = try Self.answer(
            stub.handleQuery(DNSBytes.query("a.corp"), sentinel: Self.sentinel)
        )
        let (again, againResolved) = try Self.answer(
            stub.handleQuery(DNSBytes.query("A.Corp"), sentinel: Self.sentinel)
        )
        let (other, _) = try Self.answer(stub.handleQuery(DNSBytes.query("b.corp"), sentinel: Self.sentinel))
        #expect(again.answerAddresses == first.answerAddresses)
        #expect(firstResolved?.newlyAssigned == true && againResolved?.newlyAssigned == false)
        #expect(other.answerAddresses == (5...8).map { Self.v4("100.96.0.\($0)") })
    }

    @Test func anIPv4OnlyResourceGetsOnlyIPv4AddressesAndAnEmptyAAAAAnswer() throws {
        var stub = Self.stub([Self.dns(Self.corp, "app.corp", ipStack: "ipv4_only")])
        let (aaaa, resolved) = try Self.answer(
            stub.handleQuery(DNSBytes.query("app.corp", type: 28), sentinel: Self.sentinel)
        )
        #expect(aaaa.responseCode == .noError && aaaa.answers.isEmpty)
        #expect(resolved?.record.proxyIPs == (1...4).map { Self.v4("100.96.0.\($0)") })
    }

    @Test func anIPv6OnlyResourceGetsOnlyIPv6AddressesAndAnEmptyAAnswer() throws {
        var stub = Self.stub([Self.dns(Self.corp, "app.corp", ipStack: "ipv6_only")])
        let (a, resolved) = try Self.answer(stub.handleQuery(DNSBytes.query("app.corp"), sentinel: Self.sentinel))
        #expect(a.responseCode == .noError && a.answers.isEmpty)
        #expect(resolved?.record.proxyIPs == (1...4).map { Self.v6("fd00:2021:1111:8000::\($0)") })
    }

    @Test func theMostSpecificMatchingPatternOwnsTheName() throws {
        var stub = Self.stub([Self.dns(Self.wildcard, "**.corp"), Self.dns(Self.corp, "app.corp")])
        let (_, resolved) = try Self.answer(stub.handleQuery(DNSBytes.query("app.corp"), sentinel: Self.sentinel))
        #expect(resolved?.record.resource == Self.corp)
        #expect(stub.resource(for: try DomainName("x.corp")) == Self.wildcard)
    }

    @Test func anHTTPSQueryForAResourceGetsAnEmptyNoErrorAnswer() throws {
        var stub = Self.stub([Self.dns(Self.corp, "app.corp")])
        let (response, resolved) = try Self.answer(
            stub.handleQuery(DNSBytes.query("app.corp", type: 65), sentinel: Self.sentinel)
        )
        #expect(response.responseCode == .noError && response.answers.isEmpty && resolved == nil)
    }

    @Test func theFirefoxCanaryDomainGetsNXDOMAIN() throws {
        var stub = Self.stub([Self.dns(Self.corp, "**.net")])
        let (response, _) = try Self.answer(
            stub.handleQuery(DNSBytes.query("use-application-dns.net"), sentinel: Self.sentinel)
        )
        #expect(response.responseCode == .nameError)
    }

    @Test(arguments: [UInt16(33), 16])
    func srvAndTXTQueriesForAResourceGoToItsGateway(_ type: UInt16) throws {
        var stub = Self.stub([Self.dns(Self.corp, "**.corp")])
        let query = DNSBytes.query("_ldap._tcp.corp", type: type)
        guard case .forwardToGateway(let resource, let forwarded) = stub.handleQuery(query, sentinel: Self.sentinel)
        else {
            Issue.record("not forwarded to the gateway")
            return
        }
        #expect(resource == Self.corp && forwarded == query)
    }

    @Test func aPTRQueryForAProxyAddressIsAnsweredWithItsName() throws {
        var stub = Self.stub([Self.dns(Self.corp, "app.corp")])
        _ = stub.handleQuery(DNSBytes.query("app.corp", type: 28), sentinel: Self.sentinel)
        let v4 = try Self.answer(
            stub.handleQuery(DNSBytes.query("1.0.96.100.in-addr.arpa", type: 12), sentinel: Self.sentinel)
        )
        #expect(v4.0.answers.first.map { Array($0.data.readableBytesView) } == DNSBytes.name("app.corp"))
        let nibbles =
            "1." + Array(repeating: "0", count: 18).joined(separator: ".") + ".8.1.1.1.1.1.2.0.2.0.0.d.f.ip6.arpa"
        let v6 = try Self.answer(stub.handleQuery(DNSBytes.query(nibbles, type: 12), sentinel: Self.sentinel))
        #expect(v6.0.answers.first.map { Array($0.data.readableBytesView) } == DNSBytes.name("app.corp"))
        #expect(v6.0.answers.first?.ttl == 1)
    }

    @Test func aPTRQueryForAnAddressThatIsNoProxyAddressIsRecursed() {
        var stub = Self.stub([Self.dns(Self.corp, "app.corp")])
        let decision = stub.handleQuery(DNSBytes.query("1.0.96.100.in-addr.arpa", type: 12), sentinel: Self.sentinel)
        guard case .recurse = decision else {
            Issue.record("expected recursion, got \(decision)")
            return
        }
    }

    @Test func proxyAddressesResolveBackToTheirNameAndResource() throws {
        var stub = Self.stub([Self.dns(Self.corp, "app.corp")])
        _ = stub.handleQuery(DNSBytes.query("app.corp"), sentinel: Self.sentinel)
        let owner = try #require(stub.resolveProxyIP(Self.v6("fd00:2021:1111:8000::3")))
        #expect(owner.domain == (try DomainName("app.corp")) && owner.resource == Self.corp)
        #expect(stub.resolveProxyIP(Self.v4("100.96.0.9")) == nil)
    }

    // MARK: Recursion

    private func recursion(_ decision: StubResolverDecision) -> (IPSocketAddress, ByteBuffer, Bool)? {
        guard case .recurse(let upstream, let query, let viaTunnel) = decision else {
            Issue.record("expected recursion, got \(decision)")
            return nil
        }
        return (upstream, query, viaTunnel)
    }

    @Test func otherNamesGoUnchangedToTheSentinelsUpstreamOutsideTheTunnel() throws {
        var stub = Self.stub([Self.dns(Self.corp, "app.corp")])
        let query = DNSBytes.query("example.com")
        let (upstream, forwarded, viaTunnel) = try #require(recursion(stub.handleQuery(query, sentinel: Self.sentinel)))
        #expect(upstream == IPSocketAddress("1.1.1.1:53")! && forwarded == query && !viaTunnel)
    }

    @Test func otherTypesForAResourceNameAreRecursedToo() throws {
        var stub = Self.stub([Self.dns(Self.corp, "app.corp")])
        #expect(recursion(stub.handleQuery(DNSBytes.query("app.corp", type: 15), sentinel: Self.sentinel)) != nil)
    }

    @Test func aPortalUpstreamGoesThroughTheTunnelWhileTheInternetResourceIsActive() throws {
        var stub = Self.stub([Self.internet])
        let (_, _, viaTunnel) = try #require(
            recursion(stub.handleQuery(DNSBytes.query("example.com"), sentinel: Self.sentinel))
        )
        #expect(viaTunnel)
    }

    @Test func aPortalUpstreamGoesThroughTheTunnelWhenACIDRResourceCoversIt() throws {
        var covered = Self.stub([Self.cidr("1.1.1.0/24")])
        #expect(recursion(covered.handleQuery(DNSBytes.query("example.com"), sentinel: Self.sentinel))?.2 == true)
        var elsewhere = Self.stub([Self.cidr("10.0.0.0/8")])
        #expect(recursion(elsewhere.handleQuery(DNSBytes.query("example.com"), sentinel: Self.sentinel))?.2 == false)
    }

    @Test func aSystemUpstreamNeverGoesThroughTheTunnel() throws {
        var stub = StubResolver()
        stub.setResources([Self.internet, Self.cidr("0.0.0.0/0")])
        stub.setUpstreams(portal: [], system: [IPSocketAddress("1.1.1.1:53")!])
        #expect(recursion(stub.handleQuery(DNSBytes.query("example.com"), sentinel: Self.sentinel))?.2 == false)
    }

    // MARK: Sentinels

    @Test func eachUpstreamGetsASentinelOfItsFamilyInOrder() {
        var stub = StubResolver()
        let sentinels = stub.setUpstreams(
            portal: [
                .ipPort(IPSocketAddress("1.1.1.1:53")!), .ipPort(IPSocketAddress("[2606:4700::1111]:53")!),
                .ipPort(IPSocketAddress("8.8.8.8:53")!),
            ],
            system: [IPSocketAddress("9.9.9.9:53")!]
        )
        #expect(
            sentinels == [
                Self.v4("100.100.111.1"), Self.v6("fd00:2021:1111:8000:100:100:111:1"), Self.v4("100.100.111.2"),
            ]
        )
        #expect(stub.upstream(forSentinel: Self.v4("100.100.111.2"))?.address == IPSocketAddress("8.8.8.8:53")!)
    }

    @Test func systemResolversAreUsedWithoutPortalUpstreamsExceptOurOwnSentinels() {
        var stub = StubResolver()
        let sentinels = stub.setUpstreams(
            portal: [],
            system: [IPSocketAddress("100.100.111.1:53")!, IPSocketAddress("192.168.1.1:53")!]
        )
        #expect(sentinels == [Self.v4("100.100.111.1")])
        #expect(
            stub.upstream(forSentinel: Self.v4("100.100.111.1"))
                == DNSUpstream(address: IPSocketAddress("192.168.1.1:53")!, fromPortal: false)
        )
    }

    @Test func aQueryToASentinelWithoutUpstreamIsDropped() {
        var stub = Self.stub([])
        guard
            case .drop(.noUpstream) = stub.handleQuery(
                DNSBytes.query("example.com"),
                sentinel: Self.v4("100.100.111.7")
            )
        else {
            Issue.record("not dropped")
            return
        }
    }

    @Test func aMalformedQueryIsDropped() {
        var stub = Self.stub([])
        guard
            case .drop(.malformedQuery(.truncatedHeader)) = stub.handleQuery(
                ByteBuffer(bytes: [1, 2, 3]),
                sentinel: Self.sentinel
            )
        else {
            Issue.record("not dropped")
            return
        }
    }

    // MARK: Upstream failures

    @Test func aTimedOutUpstreamGetsNoAnswerAndAnyOtherFailureSERVFAIL() throws {
        let query = DNSBytes.query("example.com", id: 77)
        #expect(StubResolver.responseToUpstreamFailure(query: query, .timedOut) == nil)
        let failure = try #require(StubResolver.responseToUpstreamFailure(query: query, .failed))
        let response = try DNSMessage(parsingResponse: failure)
        #expect(response.id == 77 && response.responseCode == .serverFailure)
    }

    // MARK: Records across sessions

    @Test func aNewStubSeededWithTheRecordsKeepsTheAddressesAndContinuesAfterThem() throws {
        var first = Self.stub([Self.dns(Self.corp, "**.corp")])
        let (a, _) = try Self.answer(first.handleQuery(DNSBytes.query("a.corp"), sentinel: Self.sentinel))
        var second = Self.stub([Self.dns(Self.corp, "**.corp")], records: first.records)
        let (again, resolved) = try Self.answer(second.handleQuery(DNSBytes.query("a.corp"), sentinel: Self.sentinel))
        #expect(again.answerAddresses == a.answerAddresses && resolved?.newlyAssigned == false)
        let (b, _) = try Self.answer(second.handleQuery(DNSBytes.query("b.corp", type: 28), sentinel: Self.sentinel))
        #expect(b.answerAddresses == (5...8).map { Self.v6("fd00:2021:1111:8000::\($0)") })
        #expect(second.resolveProxyIP(Self.v4("100.96.0.2"))?.domain == (try DomainName("a.corp")))
    }

    @Test func theRecordsAreSortedByNameAndResource() throws {
        var stub = Self.stub([Self.dns(Self.corp, "**.corp")])
        for name in ["c.corp", "a.corp", "b.corp"] {
            _ = stub.handleQuery(DNSBytes.query(name), sentinel: Self.sentinel)
        }
        #expect(stub.records.records.map(\.domain.description) == ["a.corp", "b.corp", "c.corp"])
    }

    @Test func proxyAddressesNeverIncludeTheSentinels() throws {
        // Seeded so that the next IPv4 address is 100.100.110.255, just below the sentinel /24.
        let last = ProxyIPRecord(
            domain: try DomainName("x.corp"),
            resource: Self.corp,
            proxyIPs: [Self.v4("100.100.110.254")]
        )
        var stub = Self.stub([Self.dns(Self.corp, "**.corp")], records: ProxyIPSnapshot(records: [last]))
        let (response, _) = try Self.answer(stub.handleQuery(DNSBytes.query("y.corp"), sentinel: Self.sentinel))
        #expect(
            response.answerAddresses
                == ["100.100.110.255", "100.100.112.0", "100.100.112.1", "100.100.112.2"].map(Self.v4)
        )
    }
}
