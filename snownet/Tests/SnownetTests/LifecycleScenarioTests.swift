import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import IPPacket
import NIOCore
import Snownet
import Testing
import WireGuard

/// What happens to a connection after it is set up: roaming, a restarted peer, a goodbye, relays that go away,
/// and bad links on the way there.
@Suite struct LifecycleScenarioTests {
    static func goodbye() -> ByteBuffer {
        try! IPPacket.makeFZP2PControl(eventType: .goodbye, body: ByteBuffer()).buffer
    }

    /// The client closes its connection with a goodbye; the gateway's node delivers it as a p2p control packet
    /// (connlib then removes the connection) one link crossing later.
    @Test func aGoodbyeReachesThePeerAtOnce() throws {
        for seed in Scenario.seeds {
            var scenario = try TimingScenarioTests.established(seed: seed)
            scenario.update(Scenario.client) { node, now in
                node.closeConnection(Scenario.gateway, goodbye: Self.goodbye(), now: now)
            }
            #expect(scenario.peer(Scenario.client).events.last == .connectionClosed(Scenario.gateway))
            #expect(scenario.peer(Scenario.client).node.connectionIDs.isEmpty)
            let received = scenario.run(for: .milliseconds(50)) { simulation in
                simulation.node(Scenario.gateway, as: PeerHost.self).delivered.contains { delivered in
                    (try? IPPacket(delivered.packet))?.fzP2PControl?.eventType == .goodbye
                }
            }
            #expect(received, "goodbye delivered; \(scenario.report(seed: seed))")
        }
    }

    /// The client moves to another network: it resets (new key, allocations anew from the new address), the
    /// portal hands both sides the new key, and the connection comes back.
    @Test func roamingRecovers() throws {
        for seed in Scenario.seeds {
            var scenario = Scenario(seed: seed, client: .behind(.portRestrictedCone), gateway: .publicInternet)
            scenario.joinRelays()
            try scenario.connect()
            let established = scenario.run(for: .seconds(10), until: Scenario.bothEstablished)
            try #require(established, "established; \(scenario.report(seed: seed))")

            let newSecret = Bytes32((0..<32).map { UInt8($0) &* 17 &+ 9 })!
            let newAddress = IPAddress("10.0.1.3")!
            scenario.simulation.readdress(Scenario.client, to: [newAddress])
            scenario.simulation.withNode(Scenario.client, as: PeerHost.self) { host, now in
                host.sockets = [IPSocketAddress(newAddress, port: 52625)]
                _ = try? host.change { (node: inout PeerHost.SnownetNode) throws(NodeError) in
                    node.reset(secret: StaticSecret(newSecret), now: now)
                }
            }
            #expect(scenario.peer(Scenario.client).events.last == .connectionClosed(Scenario.gateway))
            scenario.run(for: .seconds(2))
            try scenario.connect(clientSecret: newSecret)
            let recovered = scenario.run(for: .seconds(10), until: Scenario.bothEstablished)
            try #require(recovered, "re-established; \(scenario.report(seed: seed))")
            #expect(scenario.exchange(count: 10) == (10, 10), "\(TestSeeds.replayHint(seed))")
        }
    }

    /// The gateway restarts with a new key under the same ID: the client's old connection stops getting answers
    /// and fails; the portal's next flow carries the new key and the connection comes back.
    @Test func aRestartedPeerIsDetectedAndReconnected() throws {
        for seed in Scenario.seeds {
            var scenario = try TimingScenarioTests.established(seed: seed)
            let newSecret = Bytes32((0..<32).map { UInt8($0) &* 19 &+ 4 })!
            scenario.restartGateway(secret: newSecret)
            let failed = scenario.clientSendsUntilItsConnectionFails(within: .seconds(15))
            try #require(failed, "the client noticed; \(scenario.report(seed: seed))")
            try scenario.connect(gatewaySecret: newSecret)
            let recovered = scenario.run(for: .seconds(10), until: Scenario.bothEstablished)
            try #require(recovered, "re-established; \(scenario.report(seed: seed))")
            #expect(scenario.exchange(count: 10) == (10, 10), "\(TestSeeds.replayHint(seed))")
        }
    }

    /// 20 % loss each way on the client's access link. A connection whose handshake or checks lose too much fails,
    /// and the client's next packet asks the portal for a new one (connlib's behaviour); within a minute the two
    /// are connected and most packets arrive.
    @Test func twentyPercentLossStillConnects() throws {
        var attempts: [Int] = []
        for seed in Scenario.seeds {
            var scenario = Scenario(
                seed: seed,
                client: .behind(.portRestrictedCone),
                gateway: .publicInternet,
                clientLink: LinkConditions(latency: .milliseconds(10), loss: 0.2)
            )
            scenario.joinRelays()
            var established = false
            var attempt = 0
            while !established && attempt < 4 {
                attempt += 1
                try scenario.connect()
                established = scenario.run(for: .seconds(20)) { simulation in
                    Scenario.bothEstablished(simulation)
                        || simulation.node(Scenario.client, as: PeerHost.self).node.connectionIDs.isEmpty
                }
                established = established && Scenario.bothEstablished(scenario.simulation)
            }
            attempts.append(attempt)
            try #require(established, "established; \(scenario.report(seed: seed))")
            let arrived = scenario.exchange(count: 50)
            #expect(arrived.toGateway >= 25 && arrived.toClient >= 25, "\(arrived); \(TestSeeds.replayHint(seed))")
        }
        print("20 % loss: connections needed per seed: \(attempts)")
    }

    /// 50 ms of jitter on both links (packets reorder): still connects.
    @Test func fiftyMillisecondsOfJitterStillConnects() throws {
        let jittery = LinkConditions(latency: .milliseconds(60), jitter: .milliseconds(50))
        for seed in Scenario.seeds {
            var scenario = Scenario(
                seed: seed,
                client: .behind(.symmetric),
                gateway: .behind(.portRestrictedCone),
                clientLink: jittery,
                gatewayLink: jittery
            )
            scenario.joinRelays()
            try scenario.connect()
            let established = scenario.run(for: .seconds(20), until: Scenario.bothEstablished)
            try #require(established, "established; \(scenario.report(seed: seed))")
            #expect(scenario.exchange(count: 10) == (10, 10), "\(TestSeeds.replayHint(seed))")
        }
    }

    /// Both behind symmetric NATs on two relays; the portal removes the relay the client uses: the client moves to
    /// the other one, signals its new relayed candidate, invalidates the old, and data flows again.
    @Test func connectionsMigrateWhenTheirRelayGoesAway() throws {
        for seed in Scenario.seeds {
            var scenario = Scenario(seed: seed, client: .behind(.symmetric), gateway: .behind(.symmetric), relays: 2)
            scenario.joinRelays()
            try scenario.connect()
            let established = scenario.run(for: .seconds(10), until: Scenario.bothEstablished)
            try #require(established, "established; \(scenario.report(seed: seed))")
            let old = try #require(scenario.peer(Scenario.client).node.relay(of: Scenario.gateway))
            scenario.update(Scenario.client) { node, now in node.updateRelays(removing: [old], adding: [], now: now) }
            let moved = scenario.peer(Scenario.client).node.relay(of: Scenario.gateway)
            #expect(moved != nil && moved != old)
            #expect(
                scenario.peer(Scenario.client).events.contains {
                    if case .invalidatedIceCandidates = $0 { true } else { false }
                }
            )
            var flowing = false
            for _ in 0..<30 where !flowing {
                flowing = scenario.exchange(count: 3) == (3, 3)
                if !flowing, scenario.peer(Scenario.client).node.connectionIDs.isEmpty {
                    // ICE gave the old path up before a new pair was nominated: the portal's next flow.
                    try scenario.connect()
                    _ = scenario.run(for: .seconds(10), until: Scenario.bothEstablished)
                }
            }
            #expect(flowing, "data flows again; \(scenario.report(seed: seed))")
        }
    }

    /// The portal's `init` after the gateway rejoined brings new credentials for the relay it already allocates on.
    /// The gateway has its relayed candidate again within a few round trips, so that a new connection behind
    /// symmetric NATs on both sides, which only a relay can carry, is established.
    @Test func aGatewayWithNewCredentialsForItsRelayServesANewConnectionBehindSymmetricNATs() throws {
        for seed in Scenario.seeds {
            var scenario = Scenario(seed: seed, client: .behind(.symmetric), gateway: .behind(.symmetric))
            scenario.joinRelays()
            // Credentials minted a second later carry another expiry: another username.
            scenario.run(for: .seconds(1))
            scenario.giveRelays(scenario.turnServers(for: Scenario.gateway), removing: [], to: Scenario.gateway)
            scenario.run(for: .milliseconds(500))
            try scenario.connect()
            let established = scenario.run(for: .seconds(10), until: Scenario.bothEstablished)
            #expect(established, "established; \(scenario.report(seed: seed))")
        }
    }

    /// Every relay becomes unreachable: each node reports that it has no relay left.
    @Test func noRelaysIsReportedWhenAllRelaysDisappear() throws {
        for seed in Scenario.seeds {
            var scenario = Scenario(seed: seed, client: .publicInternet, gateway: .publicInternet, relays: 2)
            scenario.portalRestoresRelays = false
            scenario.joinRelays()
            for relay in scenario.relayNames {
                scenario.simulation.setLink(of: relay, to: LinkConditions(loss: 1))
            }
            let reported = scenario.run(for: .seconds(120)) { simulation in
                [Scenario.client, Scenario.gateway].allSatisfy { host in
                    simulation.node(host, as: PeerHost.self).events.contains(.noRelays)
                }
            }
            #expect(reported, "no relays reported; \(scenario.report(seed: seed))")
            #expect(throws: NodeError.noRelays) {
                try scenario.connect()
            }
        }
    }
}
