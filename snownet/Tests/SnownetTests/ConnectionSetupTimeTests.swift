import FirezoneTesting
import FirezoneTime
import IPPacket
import Snownet
import Testing

/// How long a connection takes to carry its first packet once both sides hold each other's candidates: from the
/// portal's delivery of the later side's first candidate batch (the portal's own delay is not counted) to the
/// client's first packet, sent right after its upsert and held by the node while it connects, arriving at the
/// gateway. 10 ms one way between client and gateway (5 ms on each access link), relays on the public internet
/// 5 ms from the core; no loss.
@Suite struct ConnectionSetupTimeTests {
    static let seeds = 100
    static let accessLink = LinkConditions(latency: .milliseconds(5))

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let client: Scenario.Placement
        let gateway: Scenario.Placement
        let goal: Duration
        var testDescription: String { self.name }
    }

    static let cases: [Case] = [
        Case(name: "direct", client: .publicInternet, gateway: .publicInternet, goal: .milliseconds(100)),
        Case(
            name: "relayed",
            client: .behind(.symmetric),
            gateway: .behind(.portRestrictedCone),
            goal: .milliseconds(150)
        ),
    ]

    @Test(arguments: cases)
    func firstPacketArrivesSoonAfterTheCandidates(_ testCase: Case) throws {
        var durations: [Duration] = []
        for seed in TestSeeds.seeds(count: Self.seeds) {
            var scenario = Scenario(
                seed: seed,
                client: testCase.client,
                gateway: testCase.gateway,
                clientLink: Self.accessLink,
                gatewayLink: Self.accessLink,
                relayLink: Self.accessLink,
                peerLogLevel: .info
            )
            scenario.joinRelays()
            try scenario.connect()
            scenario.simulation.withNode(Scenario.client, as: PeerHost.self) { host, now in
                _ = try? host.send(Scenario.packet("first", fromClient: true), to: Scenario.gateway, now: now)
            }
            let arrived = scenario.run(for: .seconds(10)) { simulation in
                !simulation.node(Scenario.gateway, as: PeerHost.self).delivered.isEmpty
            }
            try #require(arrived, "the first packet arrived; \(scenario.report(seed: seed))")
            let candidates = try #require(
                [Scenario.client, Scenario.gateway].map { scenario.firstCandidatesDelivered[$0] }.max { a, b in
                    (a ?? .zero) < (b ?? .zero)
                } ?? nil,
                "both sides got candidates; \(TestSeeds.replayHint(seed))"
            )
            durations.append(scenario.simulation.now - candidates)
        }
        durations.sort()
        let median = durations[durations.count / 2]
        let p99 = durations[min(durations.count - 1, durations.count * 99 / 100)]
        func milliseconds(_ duration: Duration) -> String {
            "\(duration / .milliseconds(1)) ms"
        }
        print(
            "connection setup, \(testCase.name): median \(milliseconds(median)), p99 \(milliseconds(p99)), min "
                + "\(milliseconds(durations[0])), max \(milliseconds(durations[durations.count - 1])) "
                + "(\(durations.count) seeds)"
        )
        #expect(median <= testCase.goal, "median \(median) > goal \(testCase.goal)")
    }
}
