import IPPacket
import Logging
import Testing

@testable import ICE

@Suite struct CandidateTests {
    static let fixture =
        "candidate:fffeff6435be70ddbf995982 1 udp 1694498559 87.121.72.60 57114 typ srflx raddr 0.0.0.0 rport 0"

    static func socket(_ text: String) -> IPSocketAddress {
        IPSocketAddress(text)!
    }

    static func agent() -> IceAgent {
        IceAgent(
            role: .controlling,
            local: IceCredentials(ufrag: "a", password: "apassword"),
            remote: IceCredentials(ufrag: "b", password: "bpassword"),
            seed: 1,
            logger: Logger(label: "ice-test")
        )
    }

    static func add(_ candidate: Candidate, to agent: inout IceAgent) throws -> Candidate {
        let added = agent.addLocalCandidate(candidate)
        return try #require(added)
    }

    // MARK: Priorities

    @Test func unrankedCandidatesHaveStr0msDefaultLocalPreference() {
        // 2^24 × type preference + 2^8 × (65535 for IPv6, 65534 for IPv4) + 255.
        #expect(Candidate.host(Self.socket("10.0.0.1:1")).priority == 126 << 24 | 65_534 << 8 | 255)
        #expect(Candidate.host(Self.socket("[fd00::1]:1")).priority == 126 << 24 | 65_535 << 8 | 255)
        #expect(
            Candidate.serverReflexive(Self.socket("87.121.72.60:57114"), base: Self.socket("10.0.0.1:1")).priority
                == 1_694_498_559
        )
        #expect(Candidate.relayed(Self.socket("1.2.3.4:5")).priority == 2 << 24 | 65_534 << 8 | 255)
    }

    @Test func agentRanksLocalCandidatesInStr0msBands() throws {
        var agent = Self.agent()
        let host4 = try Self.add(.host(Self.socket("10.0.0.1:1")), to: &agent)
        let host6 = try Self.add(.host(Self.socket("[fd00::1]:1")), to: &agent)
        let secondHost4 = try Self.add(.host(Self.socket("10.0.0.2:1")), to: &agent)
        let secondHost6 = try Self.add(.host(Self.socket("[fd00::2]:1")), to: &agent)
        let srflx4 = try Self.add(
            .serverReflexive(Self.socket("1.1.1.1:9"), base: Self.socket("10.0.0.1:1")),
            to: &agent
        )
        let relay4 = try Self.add(.relayed(Self.socket("2.2.2.2:7")), to: &agent)
        let secondRelay4 = try Self.add(.relayed(Self.socket("2.2.2.3:7"), via: Self.socket("10.0.0.1:1")), to: &agent)
        let relay6ViaV4 = try Self.add(
            .relayed(Self.socket("[2001:db8::7]:7"), via: Self.socket("10.0.0.1:1")),
            to: &agent
        )
        let relay4ViaV6 = try Self.add(.relayed(Self.socket("2.2.2.4:7"), via: Self.socket("[fd00::1]:1")), to: &agent)
        func localPreference(_ candidate: Candidate) -> UInt32 { candidate.priority >> 8 & 0xFFFF }
        func typePreference(_ candidate: Candidate) -> UInt32 { candidate.priority >> 24 }

        #expect(localPreference(host4) == 65_534)
        #expect(localPreference(host6) == 65_535)
        #expect(localPreference(secondHost4) == 65_532)
        #expect(localPreference(secondHost6) == 65_533)
        #expect(localPreference(srflx4) == 32_766)
        #expect(localPreference(relay4) == 16_382)
        #expect(localPreference(secondRelay4) == 16_380)
        // Relayed across IP families: −1000 (the first relayed IPv6 candidate, so no −2).
        #expect(localPreference(relay6ViaV4) == 16_383 - 1_000)
        // The third relayed IPv4 candidate, across families: 16382 − 2 × 2 − 1000.
        #expect(localPreference(relay4ViaV6) == 16_382 - 4 - 1_000)
        #expect([host4, srflx4, relay4].map(typePreference) == [126, 100, 2])
        #expect(host4.priority & 0xFF == 255)
        #expect(
            agent.localCandidates == [
                host4, host6, secondHost4, secondHost6, srflx4, relay4, secondRelay4,
                relay6ViaV4, relay4ViaV6,
            ]
        )
    }

    @Test func redundantLocalCandidateIsRejected() throws {
        var agent = Self.agent()
        let host = try Self.add(.host(Self.socket("10.0.0.1:1")), to: &agent)
        #expect(agent.addLocalCandidate(.host(Self.socket("10.0.0.1:1"))) == nil)
        // A server-reflexive candidate at its own base (no NAT) is redundant with the host candidate.
        #expect(
            agent.addLocalCandidate(.serverReflexive(Self.socket("10.0.0.1:1"), base: Self.socket("10.0.0.1:1")))
                == nil
        )
        #expect(agent.localCandidates == [host])
    }

    @Test func invalidatedLocalCandidateIsRemovedWhateverItsPriority() throws {
        var agent = Self.agent()
        _ = try Self.add(.host(Self.socket("10.0.0.1:1")), to: &agent)
        let relay = try Self.add(.relayed(Self.socket("2.2.2.2:7")), to: &agent)
        agent.invalidateLocalCandidate(.relayed(Self.socket("2.2.2.2:7")))
        #expect(!agent.localCandidates.contains(relay))
        #expect(agent.localCandidates.count == 1)
    }

    // MARK: SDP

    @Test func parsesAndReformatsTheFirezoneFixture() throws {
        let candidate = try Candidate(parsing: Self.fixture)
        #expect(candidate.kind == .serverReflexive)
        #expect(candidate.address == Self.socket("87.121.72.60:57114"))
        #expect(candidate.priority == 1_694_498_559)
        #expect(candidate.foundation == "fffeff6435be70ddbf995982")
        #expect(candidate.sdp == Self.fixture)
    }

    @Test func foundationStartsWithThePriorityBytesInNetworkOrder() {
        let candidate = Candidate.serverReflexive(Self.socket("87.121.72.60:57114"), base: Self.socket("10.0.0.1:1"))
        #expect(candidate.foundation.hasPrefix("fffeff64"))
        #expect(candidate.sdp.hasSuffix(" 1 udp 1694498559 87.121.72.60 57114 typ srflx raddr 0.0.0.0 rport 0"))
        // Equal inputs, equal foundations; another base, another foundation.
        let same = Candidate.serverReflexive(Self.socket("87.121.72.60:1"), base: Self.socket("10.0.0.1:2"))
        let other = Candidate.serverReflexive(Self.socket("87.121.72.60:57114"), base: Self.socket("10.0.0.2:1"))
        #expect(same.foundation == candidate.foundation)
        #expect(other.foundation != candidate.foundation)
        #expect(candidate.foundation.count <= 32)
    }

    @Test(arguments: [
        Candidate.host(IPSocketAddress("192.168.1.5:51820")!),
        Candidate.host(IPSocketAddress("[2001:db8::5]:51820")!),
        Candidate.serverReflexive(IPSocketAddress("[2001:db8::9]:4000")!, base: IPSocketAddress("[fd00::5]:51820")!),
        Candidate.relayed(IPSocketAddress("203.0.113.7:49152")!),
        Candidate.relayed(IPSocketAddress("[2001:db8::7]:49152")!),
    ])
    func sdpRoundTrips(candidate: Candidate) throws {
        let parsed = try Candidate(parsing: candidate.sdp)
        #expect(parsed.kind == candidate.kind)
        #expect(parsed.address == candidate.address)
        #expect(parsed.priority == candidate.priority)
        #expect(parsed.foundation == candidate.foundation)
        #expect(parsed.sdp == candidate.sdp)
    }

    @Test func sdpSpellsTheRelatedAddressPlaceholderPerFamily() {
        #expect(Candidate.host(Self.socket("10.0.0.1:1")).sdp.hasSuffix(" 10.0.0.1 1 typ host"))
        #expect(
            Candidate.relayed(Self.socket("[2001:db8::7]:9")).sdp.hasSuffix(" 2001:db8::7 9 typ relay raddr :: rport 0")
        )
        #expect(Candidate.relayed(Self.socket("1.2.3.4:9")).sdp.hasSuffix(" 1.2.3.4 9 typ relay raddr 0.0.0.0 rport 0"))
    }

    @Test(arguments: [
        ("a=candidate:1 1 udp 2130706431 10.0.0.1 4000 typ host", CandidateKind.host),
        ("candidate:1 1 UDP 2130706431 10.0.0.1 4000 TYP Host", .host),
        ("candidate:1 1 udp 1694498559 1.2.3.4 4000 typ srflx", .serverReflexive),
        (
            "candidate:1 1 udp 1694498559 1.2.3.4 4000 typ srflx raddr 10.0.0.1 rport 4000 generation 0",
            .serverReflexive
        ),
        ("  candidate:ab+/ 1\tudp  16777215 2001:db8::1 4000 typ relay raddr :: rport 0\r\n", .relayed),
        ("candidate:1 1 udp 1862270719 10.0.0.1 4000 typ prflx network-id 1 network-cost 10", .peerReflexive),
    ])
    func parsesLeniently(line: String, kind: CandidateKind) throws {
        let candidate = try Candidate(parsing: line)
        #expect(candidate.kind == kind)
        #expect(candidate.address.port == 4000)
    }

    @Test(arguments: [
        ("1 1 udp 1 10.0.0.1 4000 typ host", CandidateParseError.missingPrefix),
        ("candidate:1 1 udp 1 10.0.0.1", .missingField("port")),
        ("candidate:", .missingField("foundation")),
        ("candidate:f\u{e9}e 1 udp 1 10.0.0.1 4000 typ host", .invalidFoundation("f\u{e9}e")),
        (
            "candidate:\(String(repeating: "a", count: 33)) 1 udp 1 10.0.0.1 4000 typ host",
            .invalidFoundation(String(repeating: "a", count: 33))
        ),
        ("candidate:1 2 udp 1 10.0.0.1 4000 typ host", .unsupportedComponent("2")),
        ("candidate:1 1 tcp 1 10.0.0.1 4000 typ host tcptype passive", .unsupportedTransport("tcp")),
        ("candidate:1 1 udp 0 10.0.0.1 4000 typ host", .invalidPriority("0")),
        ("candidate:1 1 udp 4294967296 10.0.0.1 4000 typ host", .invalidPriority("4294967296")),
        ("candidate:1 1 udp 1 abc.local 4000 typ host", .invalidAddress("abc.local")),
        ("candidate:1 1 udp 1 10.0.0.1 65536 typ host", .invalidPort("65536")),
        ("candidate:1 1 udp 1 10.0.0.1 0 typ host", .invalidPort("0")),
        ("candidate:1 1 udp 1 10.0.0.1 4000 type host", .missingType("type")),
        ("candidate:1 1 udp 1 10.0.0.1 4000 typ", .missingField("type")),
        ("candidate:1 1 udp 1 10.0.0.1 4000 typ stun", .unknownType("stun")),
    ])
    func rejectsWithATypedError(line: String, error: CandidateParseError) {
        #expect(throws: error) {
            try Candidate(parsing: line)
        }
        #expect(!error.description.isEmpty)
    }
}
