import FirezoneTesting
import FirezoneTime
import Snownet
import Testing

/// A client and a gateway connect on the path their NATs allow, over many seeds: direct when hole punching
/// works, through a relay when one side's NAT is symmetric, relay to relay when both are.
@Suite struct PathScenarioTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let client: Scenario.Placement
        let gateway: Scenario.Placement
        let relays: Int
        /// The relays the portal gives the client and the gateway, by name; nil: every relay to both.
        var relaySets: (client: [String], gateway: [String])? = nil
        /// The paths the client may end up on (ICE may pick either when two kinds of pair both work).
        let clientPaths: Set<ConnectionPath>
        var testDescription: String { self.name }
    }

    static let cases: [Case] = [
        Case(
            name: "no NAT",
            client: .publicInternet,
            gateway: .publicInternet,
            relays: 1,
            clientPaths: [.direct]
        ),
        Case(
            name: "cone NATs on both sides",
            client: .behind(.fullCone),
            gateway: .behind(.portRestrictedCone),
            relays: 1,
            clientPaths: [.direct]
        ),
        // A port-restricted cone NAT lets in only what comes from where its host sent to, and a symmetric NAT
        // sends from a new port for every destination: no direct pair can work.
        Case(
            name: "client behind symmetric NAT",
            client: .behind(.symmetric),
            gateway: .behind(.portRestrictedCone),
            relays: 1,
            clientPaths: [.relayedOnOurSide, .relayedOnTheirSide, .relayToRelay]
        ),
        Case(
            name: "both behind symmetric NAT, one relay",
            client: .behind(.symmetric),
            gateway: .behind(.symmetric),
            relays: 1,
            clientPaths: [.relayToRelay]
        ),
        Case(
            name: "both behind symmetric NAT, two relays",
            client: .behind(.symmetric),
            gateway: .behind(.symmetric),
            relays: 2,
            clientPaths: [.relayToRelay]
        ),
        // As Firezone's portal gives each device the relays nearest to it: each side's relayed candidate is on its
        // own relay, and the only pair that works is the one across the two (RFC 8445 §5.1.1.2: a relayed
        // candidate is its own base, so that pair is redundant with no other and is checked).
        Case(
            name: "both behind symmetric NAT, a relay each",
            client: .behind(.symmetric),
            gateway: .behind(.symmetric),
            relays: 2,
            relaySets: (client: ["relay-1"], gateway: ["relay-2"]),
            clientPaths: [.relayToRelay]
        ),
    ]

    @Test(arguments: cases)
    func connectsAndCarriesDataBothWays(_ testCase: Case) throws {
        for seed in Scenario.seeds {
            var scenario = Scenario(
                seed: seed,
                client: testCase.client,
                gateway: testCase.gateway,
                relays: testCase.relays
            )
            if let sets = testCase.relaySets {
                scenario.joinRelays(client: sets.client, gateway: sets.gateway)
            } else {
                scenario.joinRelays()
            }
            try scenario.connect()
            let established = scenario.run(for: .seconds(10), until: Scenario.bothEstablished)
            try #require(established, "established; \(scenario.report(seed: seed))")
            let path = scenario.peer(Scenario.client).node.path(of: Scenario.gateway)
            try #require(
                path.map { testCase.clientPaths.contains($0) } == true,
                "client path \(path.map { "\($0)" } ?? "none"), expected one of \(testCase.clientPaths); \(scenario.report(seed: seed))"
            )
            if let sets = testCase.relaySets {
                let relays = (
                    scenario.peer(Scenario.client).node.relay(of: Scenario.gateway),
                    scenario.peer(Scenario.gateway).node.relay(of: Scenario.client)
                )
                try #require(
                    relays.0.map(sets.client.contains) == true && relays.1.map(sets.gateway.contains) == true,
                    "relays (client, gateway) \(relays), expected \(sets); \(scenario.report(seed: seed))"
                )
            }
            let arrived = scenario.exchange(count: 10)
            try #require(arrived == (10, 10), "arrived \(arrived); \(scenario.report(seed: seed))")
        }
    }
}
