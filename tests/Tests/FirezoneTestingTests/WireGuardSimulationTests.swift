import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import Testing
import WireGuard

/// Two WireGuard tunnels in the simulated network: handshakes and data across NATs and lossy links.
struct WireGuardSimulationTests {
    static let aliceSecret = Bytes32((0..<32).map { UInt8($0) &* 3 &+ 1 })!
    static let bobSecret = Bytes32((0..<32).map { UInt8($0) &* 5 &+ 2 })!
    static var alicePublicKey: PublicKey { LocalIdentity(secret: StaticSecret(Self.aliceSecret)).publicKey }
    static var bobPublicKey: PublicKey { LocalIdentity(secret: StaticSecret(Self.bobSecret)).publicKey }
    static let packets = 50

    /// Alice behind a symmetric NAT, Bob on a public address, 20 % loss on Alice's link in both directions.
    ///
    /// The direct path works because Bob answers from the very socket Alice sent to, which is what the
    /// address-and-port-dependent mapping and filter of Alice's NAT let back in. Two hosts behind symmetric NATs
    /// cannot reach each other directly (neither can learn the port the other's NAT picks towards it); that case
    /// goes through the relay, below and in ``RelaySimulationTests``.
    @Test(arguments: TestSeeds.seeds(count: 4))
    func aTunnelFromBehindASymmetricNATToAPublicPeerSurvives20PercentLoss(seed: UInt64) throws {
        let logs = InMemoryLogHandler.Records()
        var simulation = Simulation(seed: seed)
        simulation.addRouter("alice-nat", publicAddresses: [address("198.51.100.1")], nat: .symmetric)
        let bobSocket = socket("203.0.113.7:51820")
        let alice = WireGuardNode(
            secret: Self.aliceSecret,
            peerPublicKey: Self.bobPublicKey,
            peerIndex: 1,
            local: socket("10.0.0.2:51820"),
            path: .direct(peer: bobSocket),
            seed: &simulation.rng,
            clock: simulation.clock,
            logger: logs.logger(label: "alice")
        )
        let bob = WireGuardNode(
            secret: Self.bobSecret,
            peerPublicKey: Self.alicePublicKey,
            peerIndex: 2,
            local: bobSocket,
            path: .direct(peer: nil),
            seed: &simulation.rng,
            clock: simulation.clock,
            logger: logs.logger(label: "bob")
        )
        let lossy = LinkConditions(latency: .milliseconds(20), jitter: .milliseconds(5), loss: 0.2)
        simulation.addHost("alice", addresses: [address("10.0.0.2")], behind: "alice-nat", link: lossy, node: alice)
        simulation.addHost("bob", addresses: [bobSocket.address], node: bob)

        try Self.exchange(&simulation, between: "alice", and: "bob", logs: logs)
        #expect(simulation.trace.contains { $0.event == .lost(link: "alice") }, "the link did lose datagrams")
    }

    /// Sends one packet from `initiator` to start the handshake, waits for the session (up to 60 s: a lost
    /// initiation or response costs a 5 s retransmission, REKEY_TIMEOUT), then sends ``packets`` each way and
    /// checks that most arrive intact and that nothing was logged at warning or above.
    static func exchange(
        _ simulation: inout Simulation,
        between initiator: String,
        and responder: String,
        logs: InMemoryLogHandler.Records
    ) throws {
        try simulation.withNode(initiator, as: WireGuardNode.self) { try $0.send("first", now: $1) }
        let established = simulation.advance(for: .seconds(60)) {
            $0.node(initiator, as: WireGuardNode.self).hasSession
        }
        try #require(established, "handshake completed; \(simulation.report())")

        for (sender, receiver) in [(initiator, responder), (responder, initiator)] {
            let texts = (0..<Self.packets).map { "\(sender) \($0)" }
            for text in texts {
                try simulation.withNode(sender, as: WireGuardNode.self) { try $0.send(text, now: $1) }
                simulation.elapse(.milliseconds(10))
            }
            simulation.advance(for: .seconds(1))
            let received = simulation.node(receiver, as: WireGuardNode.self).received.filter {
                $0.hasPrefix(sender + " ")
            }
            #expect(received.allSatisfy(texts.contains), Comment(rawValue: simulation.report()))
            #expect(
                received.count >= Self.packets / 2,
                "\(received.count) of \(Self.packets) arrived; \(simulation.report())"
            )
        }
        for host in [initiator, responder] {
            #expect(simulation.node(host, as: WireGuardNode.self).tunnel.stats.handshakesCompleted >= 1)
        }
        logs.expectNoWarningsOrErrors(simulation.report())
    }
}
