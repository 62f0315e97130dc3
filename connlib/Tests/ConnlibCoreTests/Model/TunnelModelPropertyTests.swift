import FirezoneTesting
import PropertyBased
import Testing

/// The tunnel's proof: random sequences of resource changes, packets, flow expiries and revocations, gateway and
/// client restarts, connection failures and roaming played on the real client and gateway states
/// (``SimulatedTunnel``) and on the reference model (``TunnelModel``); after every step the client's application must
/// see what the model says.
///
/// `make test` plays ``defaultSequenceCount`` sequences; `CONNLIB_MODEL_SEQUENCES=<n>` plays that many,
/// `SIMULATION_SEED=<seed>` the one that seed draws. A failure prints the seed, the sequence shrunk to the steps it
/// needs (Swift, to paste into ``regressions``) and the last things the tunnel did.
@Suite struct TunnelModelPropertyTests {
    static let countVariable = "CONNLIB_MODEL_SEQUENCES"
    static let defaultSequenceCount = 1_000

    static var sequenceCount: Int {
        getenv(Self.countVariable).flatMap { Int(String(cString: $0)) } ?? Self.defaultSequenceCount
    }

    static var generator: Generator<TunnelSequence, some SendableSequenceType> {
        TunnelSequence.generator
    }

    static func sequence(seed: UInt64) -> TunnelSequence {
        var generator = TunnelHarnessTests.generator(seed: seed)
        return Self.generator.run(using: &generator)
    }

    static func play(_ sequence: TunnelSequence) -> (failure: String?, report: String, agreed: TunnelObservation.Tally)
    {
        // The client applies its resources' filters before routing, and the gateways apply them again.
        var run = TunnelSequenceRun(
            sequence,
            model: TunnelModel(clientAppliesFilters: true),
            system: SimulatedTunnel(seed: sequence.seed)
        )
        let failure = run.play()
        return (failure, run.report, run.agreed)
    }

    @Test func theTunnelShowsWhatTheModelExpectsAfterEveryStep() {
        var steps = 0
        var agreed = TunnelObservation.Tally()
        let seeds = TestSeeds.seeds(count: Self.sequenceCount)
        for seed in seeds {
            let sequence = Self.sequence(seed: seed)
            steps += sequence.steps.count
            let played = Self.play(sequence)
            agreed.add(played.agreed)
            guard played.failure != nil else {
                continue
            }
            let shrunk = sequence.shrunk { Self.play($0).failure != nil }
            let (failure, report, _) = Self.play(shrunk)
            Issue.record(
                """
                \(TestSeeds.replayHint(seed)) (draws the sequence before shrinking)
                \(failure ?? "")
                shrunk sequence:
                \(shrunk.testDescription)
                \(report)
                """
            )
            return
        }
        print(
            "\(seeds.count) tunnel sequences, \(steps) steps: the tunnel agreed with the model after every step (\(agreed))"
        )
    }

    /// Fixed sequences for rules a random run reaches rarely, and shrunk ones that once failed.
    static let regressions: [TunnelSequence] = [
        // A CIDR resource that denies ICMP and the Internet resource on one gateway: the client sends the echo for
        // the Internet resource, and the gateway answers as the Internet resource (a ULA address: unreachable).
        TunnelSequence(
            seed: 1_127_212_601_624_825_013,
            steps: [
                .setInternetResourceActive(true),
                .upsert(slot: 2, sites: .both, filters: 2),
                .send(.address(2), .udp(port: 53)),
                .upsert(slot: 8, sites: .both, filters: 5),
                .send(.address(2), .icmpEcho),
            ]
        ),
        // A DNS resource's filters deny a packet to its proxy address while the Internet resource is active: the
        // client answers prohibited itself instead of sending the fake address to the Internet resource's gateway.
        TunnelSequence(
            seed: 5_041_020_680_115_923_374,
            steps: [
                .setInternetResourceActive(true),
                .upsert(slot: 6, sites: .a, filters: 4),
                .query(name: 3, ipv6: false, tcp: true),
                .upsert(slot: 8, sites: .a, filters: 4),
                .send(.name(3, ipv6: false), .tcp(port: 80)),
            ]
        ),
        // A restarted gateway (same key, new port, new relay allocation) serves a new flow.
        TunnelSequence(
            seed: 4_745_816_438_174_620_755,
            steps: [.upsert(slot: 3, sites: .b, filters: 0), .restartGateway(1), .send(.address(3), .icmpEcho)]
        ),
        // After a network failure longer than the relay allocation survives, the client asks the portal for
        // relays again and connects.
        TunnelSequence(
            seed: 4_745_816_438_174_620_755,
            steps: [.connectionFailure, .upsert(slot: 3, sites: .b, filters: 0), .send(.address(3), .icmpEcho)]
        ),
        // A filter change the offline gateway never heard of: its old filter prohibits, the client asks for a new
        // flow at once, which the online gateway of the other site serves with today's filter.
        TunnelSequence(
            seed: 1_624_585_801_574_208_285,
            steps: [
                .upsert(slot: 2, sites: .both, filters: 1),
                .send(.address(2), .tcp(port: 80)),
                .setGatewayOnline(0, false),
                .upsert(slot: 2, sites: .both, filters: 3),
                .send(.address(2), .icmpEcho),
                .send(.address(2), .icmpEcho),
            ]
        ),
        // A name the gateway cannot resolve: the first packet goes with the failed mapping, the next gets ICMP
        // network unreachable, a new answer asks the gateway again.
        TunnelSequence(
            seed: 11_628_476_013_143_451_974,
            steps: [
                .upsert(slot: 5, sites: .both, filters: 0),
                .query(name: 5, ipv6: false, tcp: false),
                .send(.name(5, ipv6: false), .udp(port: 53)),
                .send(.name(5, ipv6: false), .udp(port: 53)),
                .query(name: 5, ipv6: false, tcp: false),
                .send(.name(5, ipv6: false), .udp(port: 53)),
            ]
        ),
        // The proxy addresses of one session are those of the next (#10104), and new names get new ones.
        TunnelSequence(
            seed: 7,
            steps: [
                .upsert(slot: 5, sites: .a, filters: 0),
                .query(name: 2, ipv6: true, tcp: false),
                .query(name: 0, ipv6: false, tcp: false),
                .restartClient,
                .query(name: 1, ipv6: true, tcp: false),
                .query(name: 2, ipv6: true, tcp: false),
                .query(name: 0, ipv6: false, tcp: false),
                .send(.name(0, ipv6: false), .udp(port: 53)),
            ]
        ),
        // PTR: a proxy address's name comes from the stub, any other address's answer from the upstream.
        TunnelSequence(
            seed: 8,
            steps: [
                .upsert(slot: 4, sites: .a, filters: 0),
                .query(name: 0, ipv6: true, tcp: false),
                .reverseQuery(.name(0, ipv6: true)),
                .reverseQuery(.address(0)),
            ]
        ),
        // `ip_stack`: an IPv4-only resource answers AAAA empty and A with proxy addresses that carry traffic, an
        // IPv6-only one the other way round.
        TunnelSequence(
            seed: 9,
            steps: [
                .upsert(slot: 9, sites: .a, filters: 0),
                .upsert(slot: 10, sites: .b, filters: 0),
                .query(name: 1, ipv6: true, tcp: false),
                .query(name: 1, ipv6: false, tcp: false),
                .send(.name(1, ipv6: false), .udp(port: 53)),
                .query(name: 4, ipv6: false, tcp: false),
                .query(name: 4, ipv6: true, tcp: false),
                .send(.name(4, ipv6: true), .icmpEcho),
            ]
        ),
        // LLMNR: a resource's name gets its proxy addresses, any other name silence.
        TunnelSequence(
            seed: 10,
            steps: [.upsert(slot: 4, sites: .a, filters: 0), .llmnr(name: 0), .llmnr(name: 6)]
        ),
        // A flow the portal extended survives the expiry: with its gateway offline it still carries traffic.
        TunnelSequence(
            seed: 11,
            steps: [
                .upsert(slot: 0, sites: .a, filters: 0),
                .send(.address(0), .icmpEcho),
                .extendFlows,
                .expireFlows,
                .setGatewayOnline(0, false),
                .send(.address(0), .icmpEcho),
            ]
        ),
        // SRV and TXT for a DNS resource's name: the query waits for the flow and the resource's site answers it;
        // a name that site cannot resolve is NXDOMAIN, and a name of no resource goes to the upstream.
        TunnelSequence(
            seed: 12,
            steps: [
                .upsert(slot: 4, sites: .b, filters: 0),
                .recordQuery(name: 0, txt: true),
                .recordQuery(name: 0, txt: false),
                .upsert(slot: 5, sites: .a, filters: 3),
                .recordQuery(name: 5, txt: true),
                .recordQuery(name: 6, txt: true),
            ]
        ),
        Self.recursionThroughTheTunnel,
    ]

    /// Recursion through the tunnel: the portal's upstream lies in a CIDR resource, so that a query for any other
    /// name goes to it as a packet of that resource; once the resource's filters deny UDP to port 53, the client
    /// answers SERVFAIL itself, over UDP and on a TCP connection, without asking for a flow.
    static let recursionThroughTheTunnel = TunnelSequence(
        seed: 13,
        steps: [
            .setPortalUpstream(true),
            .upsert(slot: 0, sites: .a, filters: 0),
            .query(name: 6, ipv6: false, tcp: false),
            .upsert(slot: 0, sites: .a, filters: 1),
            .query(name: 7, ipv6: false, tcp: false),
            .query(name: 6, ipv6: false, tcp: true),
        ]
    )

    @Test func aQueryWhoseUpstreamTheResourcesFiltersDenyIsServfailOverUDPAndTCP() {
        let (failure, report, agreed) = Self.play(Self.recursionThroughTheTunnel)
        #expect(failure == nil, "\(failure ?? "")\n\(report)")
        #expect(agreed.servfail == 2)
        #expect(agreed.prohibited == 0)
    }

    @Test(arguments: Self.regressions)
    func regression(_ sequence: TunnelSequence) {
        let (failure, report, _) = Self.play(sequence)
        #expect(failure == nil, "\(failure ?? "")\n\(report)")
    }
}

#if canImport(Glibc)
import Glibc
#endif
