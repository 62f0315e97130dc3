import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import RelayCore
import SimulatedRelay
import Testing
import WireGuard

/// Our TURN server relaying between two hosts that are each behind a symmetric NAT: each allocates, binds a
/// channel to the other's relayed address, and the relay forwards between the two allocations.
struct RelaySimulationTests {
    static let relayIPv4 = address("203.0.113.1")
    static let relayIPv6 = address("2001:db8::1")

    /// Alice and Bob behind their own symmetric NATs, with the same private address (each in its own realm),
    /// a relay on the public internet, and `loss` on both clients' links.
    static func setUp(seed: UInt64, loss: Double, logs: InMemoryLogHandler.Records) -> Simulation {
        var simulation = Simulation(seed: seed)
        simulation.addRouter("alice-nat", publicAddresses: [address("198.51.100.1")], nat: .symmetric)
        simulation.addRouter("bob-nat", publicAddresses: [address("198.51.100.2")], nat: .symmetric)
        let relay = RelayNode(
            addresses: [Self.relayIPv4, Self.relayIPv6],
            seed: simulation.rng.next(),
            clock: simulation.clock,
            logger: logs.logger(label: "relay")
        )
        simulation.addHost("relay", addresses: relay.addresses, node: relay)
        let link = LinkConditions(latency: .milliseconds(15), jitter: .milliseconds(5), loss: loss)
        let server = IPSocketAddress(Self.relayIPv4, port: RelayNode.listeningPort)
        for (name, secret, peerKey, index) in [
            ("alice", WireGuardSimulationTests.aliceSecret, WireGuardSimulationTests.bobPublicKey, UInt32(1)),
            ("bob", WireGuardSimulationTests.bobSecret, WireGuardSimulationTests.alicePublicKey, UInt32(2)),
        ] {
            let client = TURNChannelClient(
                server: server,
                credentials: RelayNode.credentials(clock: simulation.clock, salt: name),
                seed: simulation.rng.next(),
                now: simulation.now
            )
            let node = WireGuardNode(
                secret: secret,
                peerPublicKey: peerKey,
                peerIndex: index,
                local: socket("10.0.0.2:51820"),
                path: .relayed(client),
                seed: &simulation.rng,
                clock: simulation.clock,
                logger: logs.logger(label: name)
            )
            simulation.addHost(name, addresses: [address("10.0.0.2")], behind: "\(name)-nat", link: link, node: node)
        }
        return simulation
    }

    /// Allocates for both, then binds each one's channel to the other's relayed address.
    static func connect(_ simulation: inout Simulation) throws {
        let allocated = simulation.advance(for: .seconds(30)) { simulation in
            ["alice", "bob"].allSatisfy {
                simulation.node($0, as: WireGuardNode.self).relayClient?.relayedAddress != nil
            }
        }
        try #require(allocated, "both allocated; \(simulation.report())")
        let aliceRelayed = try #require(simulation.node("alice", as: WireGuardNode.self).relayClient?.relayedAddress)
        let bobRelayed = try #require(simulation.node("bob", as: WireGuardNode.self).relayClient?.relayedAddress)
        simulation.withNode("alice", as: WireGuardNode.self) { $0.bindChannel(0x4000, to: bobRelayed, now: $1) }
        simulation.withNode("bob", as: WireGuardNode.self) { $0.bindChannel(0x4001, to: aliceRelayed, now: $1) }
        let bound = simulation.advance(for: .seconds(30)) { simulation in
            ["alice", "bob"].allSatisfy { simulation.node($0, as: WireGuardNode.self).relayClient?.channel != nil }
        }
        let errors = ["alice", "bob"].map { simulation.node($0, as: WireGuardNode.self).relayClient?.errors ?? [] }
        try #require(bound, "both channels bound; TURN errors \(errors); \(simulation.report())")
    }

    @Test func theRelayCarriesATunnelBetweenTwoHostsBehindSymmetricNATs() throws {
        let logs = InMemoryLogHandler.Records()
        var simulation = Self.setUp(seed: 7, loss: 0, logs: logs)
        try Self.connect(&simulation)
        try WireGuardSimulationTests.exchange(&simulation, between: "alice", and: "bob", logs: logs)

        for host in ["alice", "bob"] {
            let node = simulation.node(host, as: WireGuardNode.self)
            #expect(node.received.count == WireGuardSimulationTests.packets + (host == "bob" ? 1 : 0), "nothing lost")
            #expect(node.unsent == 0)
            #expect(node.relayClient?.errors == [])
        }
        let relay = simulation.node("relay", as: RelayNode.self)
        #expect(relay.server.stats.allocations == 2)
        // Each packet crosses the relay once: channel data to the other's relayed address on the same relay loops
        // back to the other as channel data (Firezone #10286).
        #expect(relay.server.stats.relayedPackets >= UInt64(2 * WireGuardSimulationTests.packets))
        #expect(relay.drops == [])
        #expect(
            simulation.trace.contains {
                $0.event == .translatedSource(router: "bob-nat", from: socket("10.0.0.2:51820"))
            }
        )
    }

    /// Both sides behind symmetric NATs with 10 % loss on each client's link, so 19 % from one client to the other
    /// in each direction: TURN retransmits its requests, WireGuard its initiations.
    @Test(arguments: TestSeeds.seeds(count: 4))
    func aRelayedTunnelBetweenSymmetricNATsSurvivesLossyLinks(seed: UInt64) throws {
        let logs = InMemoryLogHandler.Records()
        var simulation = Self.setUp(seed: seed, loss: 0.1, logs: logs)
        try Self.connect(&simulation)
        try WireGuardSimulationTests.exchange(&simulation, between: "alice", and: "bob", logs: logs)
    }

    @Test func aRelayedRunRepeatsItsTraceForTheSameSeed() throws {
        func run() throws -> String {
            let logs = InMemoryLogHandler.Records()
            var simulation = Self.setUp(seed: 11, loss: 0.1, logs: logs)
            try Self.connect(&simulation)
            try WireGuardSimulationTests.exchange(&simulation, between: "alice", and: "bob", logs: logs)
            return simulation.traceText
        }
        let first = try run()
        #expect(first == (try run()))
    }
}
