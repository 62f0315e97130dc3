import FirezoneTesting
import FirezoneTime
import IPPacket
import Testing

@testable import ICE

/// Two agents connected through ``IceSimulation``. Agent 0 plays Firezone's client (controlling), agent 1 its
/// gateway (controlled), unless a test says otherwise.
@Suite struct IceAgentSimulationTests {
    static let client = 0
    static let gateway = 1

    static func connectedHosts(seed: UInt64) -> IceSimulation {
        var simulation = IceSimulation(seed: seed)
        simulation.addHost(Self.client, "192.0.2.1:51820")
        simulation.addHost(Self.gateway, "198.51.100.1:51820")
        simulation.run(for: .seconds(5))
        return simulation
    }

    @Test func bothSidesNominateTheSamePair() {
        for seed in TestSeeds.seeds(count: 4) {
            let simulation = Self.connectedHosts(seed: seed)
            #expect(simulation.nominatedTheSamePair, "\(TestSeeds.replayHint(seed))")
            #expect(simulation.agents.map(\.state) == [.connected, .connected], "\(TestSeeds.replayHint(seed))")
            #expect(simulation.nominations(Self.client).count == 1, "\(TestSeeds.replayHint(seed))")
            #expect(simulation.nominations(Self.gateway).count == 1, "\(TestSeeds.replayHint(seed))")
            // One round trip for the check, one for the nomination: well under a second.
            let connected = simulation.time(of: .connected, Self.client)
            #expect(connected.map { $0 - IceSimulation.start < .seconds(1) } == true, "\(TestSeeds.replayHint(seed))")
            #expect(
                simulation.events[Self.client].map(\.event).filter {
                    if case .stateChanged = $0 { true } else { false }
                }
                    == [.stateChanged(.checking), .stateChanged(.connected)],
                "\(TestSeeds.replayHint(seed))"
            )
        }
    }

    @Test func hostPairWinsOverRelayPairs() {
        for seed in TestSeeds.seeds(count: 4) {
            var simulation = IceSimulation(seed: seed)
            // Relays first, so that their pairs exist before the host pair.
            simulation.addRelayed(Self.client, "203.0.113.10:50000")
            simulation.addRelayed(Self.gateway, "203.0.113.10:50001")
            simulation.addHost(Self.client, "192.0.2.1:51820")
            simulation.addHost(Self.gateway, "198.51.100.1:51820")
            simulation.run(for: .seconds(10))
            let pair = simulation.agents[Self.client].nominatedPair
            #expect(pair?.local.kind == .host && pair?.remote.kind == .host, "\(TestSeeds.replayHint(seed))")
            #expect(simulation.pairPrioritiesAgree, "\(TestSeeds.replayHint(seed))")
            #expect(simulation.nominatedTheSamePair, "\(TestSeeds.replayHint(seed))")
        }
    }

    @Test func betterPairThatSucceedsLaterIsNominatedAgain() throws {
        for seed in TestSeeds.seeds(count: 4) {
            var simulation = IceSimulation(seed: seed)
            simulation.addRelayed(Self.client, "203.0.113.10:50000")
            simulation.addRelayed(Self.gateway, "203.0.113.10:50001")
            simulation.run(for: .seconds(5))
            #expect(
                simulation.agents[Self.client].nominatedPair?.local.kind == .relayed,
                "\(TestSeeds.replayHint(seed))"
            )
            #expect(simulation.nominatedTheSamePair, "\(TestSeeds.replayHint(seed))")

            // Host candidates trickle in later (say, the portal delivered them late).
            simulation.addHost(Self.client, "192.0.2.1:51820")
            simulation.addHost(Self.gateway, "198.51.100.1:51820")
            simulation.run(for: .seconds(5))
            for agent in [Self.client, Self.gateway] {
                let kinds = simulation.nominations(agent).map { [$0.local.kind, $0.remote.kind] }
                #expect(
                    kinds == [[.relayed, .relayed], [.host, .host]],
                    "agent \(agent), \(TestSeeds.replayHint(seed))"
                )
            }
            #expect(simulation.nominatedTheSamePair, "\(TestSeeds.replayHint(seed))")
            #expect(simulation.agents.map(\.state) == [.connected, .connected])
        }
    }

    @Test(arguments: [IceRole.controlling, .controlled])
    func roleConflictResolves(role: IceRole) {
        for seed in TestSeeds.seeds(count: 4) {
            var simulation = IceSimulation(seed: seed, roles: (role, role))
            simulation.addHost(Self.client, "192.0.2.1:51820")
            simulation.addHost(Self.gateway, "198.51.100.1:51820")
            simulation.run(for: .seconds(5))
            #expect(Set(simulation.agents.map(\.role)) == [.controlling, .controlled], "\(TestSeeds.replayHint(seed))")
            #expect(simulation.nominatedTheSamePair, "\(TestSeeds.replayHint(seed))")
            // The larger tie-breaker controls (RFC 8445 §7.3.1.1).
            let controlling = simulation.agents[0].tieBreaker > simulation.agents[1].tieBreaker ? 0 : 1
            #expect(simulation.agents[controlling].role == .controlling, "\(TestSeeds.replayHint(seed))")
        }
    }

    @Test(arguments: [IceRole.controlling, .controlled])
    func peerReflexiveRemoteCandidateIsLearnedFromChecks(unsignalledRole: IceRole) {
        let other: IceRole = unsignalledRole == .controlling ? .controlled : .controlling
        for seed in TestSeeds.seeds(count: 4) {
            var simulation = IceSimulation(seed: seed, roles: (unsignalledRole, other))
            // The client's candidate never reaches the gateway.
            simulation.addHost(Self.client, "192.0.2.1:51820", signal: false)
            simulation.addHost(Self.gateway, "198.51.100.1:51820")
            simulation.run(for: .seconds(5))
            #expect(simulation.nominatedTheSamePair, "\(TestSeeds.replayHint(seed))")
            #expect(
                simulation.agents[Self.gateway].remoteCandidates.map(\.kind) == [.peerReflexive],
                "\(TestSeeds.replayHint(seed))"
            )
            #expect(
                simulation.agents[Self.gateway].nominatedPair?.remote.address == IPSocketAddress("192.0.2.1:51820"),
                "\(TestSeeds.replayHint(seed))"
            )
        }
    }

    @Test func peerReflexiveLocalCandidateIsLearnedFromResponses() throws {
        var simulation = IceSimulation(seed: 7)
        // The client sits behind a NAT and signals only its private host address.
        simulation.addNAT(Self.client, internal: "10.0.0.2:51820", external: "192.0.2.1:62000")
        simulation.add(.host(IPSocketAddress("10.0.0.2:51820")!), to: Self.client, signal: true)
        simulation.addHost(Self.gateway, "198.51.100.1:51820")
        simulation.run(for: .seconds(5))
        #expect(simulation.nominatedTheSamePair)
        let clientPair = try #require(simulation.agents[Self.client].nominatedPair)
        #expect(clientPair.local.kind == .peerReflexive)
        #expect(clientPair.local.address == IPSocketAddress("192.0.2.1:62000"))
        #expect(clientPair.local.base == IPSocketAddress("10.0.0.2:51820"))
        #expect(simulation.agents[Self.client].localCandidates.map(\.kind) == [.host, .peerReflexive])
        let gatewayPair = try #require(simulation.agents[Self.gateway].nominatedPair)
        #expect(gatewayPair.remote.kind == .peerReflexive)
        #expect(gatewayPair.remote.address == IPSocketAddress("192.0.2.1:62000"))
    }

    @Test func twentyPercentLossStillNominates() {
        for seed in TestSeeds.seeds(count: 8) {
            var simulation = IceSimulation(seed: seed)
            simulation.loss = 0.2
            simulation.addRelayed(Self.client, "203.0.113.10:50000")
            simulation.addHost(Self.client, "192.0.2.1:51820")
            simulation.addHost(Self.gateway, "198.51.100.1:51820")
            simulation.run(for: .seconds(20))
            #expect(simulation.nominatedTheSamePair, "\(TestSeeds.replayHint(seed))")
            #expect(simulation.agents.map(\.state) == [.connected, .connected], "\(TestSeeds.replayHint(seed))")
        }
    }

    // MARK: Timing

    @Test func activeConnectionFailsTenAndAHalfSecondsAfterItsPathIsCut() throws {
        for seed in TestSeeds.seeds(count: 4) {
            var simulation = Self.connectedHosts(seed: seed)
            simulation.run(for: .milliseconds(Int64(seed % 1_500)))
            let cut = simulation.now
            simulation.isCut = true
            simulation.run(for: .seconds(30))
            for agent in [Self.client, Self.gateway] {
                let failed = try #require(simulation.time(of: .disconnected, agent), "\(TestSeeds.replayHint(seed))")
                let expected = ConnectionTiming.failureTimeout(
                    checkInterval: ConnectionTiming.activeCheckInterval,
                    maximumMissedResponses: ConnectionTiming.activeMaximumMissedResponses
                )
                // The first unanswered check goes out within one interval after the cut, or up to a round trip
                // before it (its answer was cut off).
                #expect(
                    failed - cut >= expected - simulation.latency * 2,
                    "agent \(agent): \(failed - cut), \(TestSeeds.replayHint(seed))"
                )
                #expect(
                    failed - cut <= expected + ConnectionTiming.activeCheckInterval,
                    "agent \(agent): \(failed - cut), \(TestSeeds.replayHint(seed))"
                )
                #expect(simulation.agents[agent].nominatedPair == nil)
            }
        }
    }

    @Test func activeConnectionChecksEveryInterval() {
        var simulation = Self.connectedHosts(seed: 3)
        let from = simulation.now
        simulation.run(for: .seconds(60))
        for agent in [Self.client, Self.gateway] {
            let checks = simulation.requestTimes[agent].filter { $0 >= from }
            // 60 s / 1.5 s.
            #expect(checks.count == 40, "agent \(agent)")
            #expect(zip(checks, checks.dropFirst()).allSatisfy { $1 - $0 == ConnectionTiming.activeCheckInterval })
        }
        #expect(simulation.agents.map(\.state) == [.connected, .connected])
    }

    /// Over a simulated hour of idleness, each side sends exactly 60 checks (one per `idleCheckInterval`) and the
    /// connection stays up; after a cut it fails within four intervals.
    @Test func idleConnectionChecksEveryMinuteAndFailsWithinFour() throws {
        var simulation = Self.connectedHosts(seed: 11)
        simulation.setIdle(true, agent: Self.client)
        simulation.setIdle(true, agent: Self.gateway)
        let idleSince = simulation.now
        simulation.run(for: .seconds(3_600))
        for agent in [Self.client, Self.gateway] {
            let checks = simulation.requestTimes[agent].filter { $0 > idleSince }
            #expect(checks.count == 60, "agent \(agent)")
            #expect(zip(checks, checks.dropFirst()).allSatisfy { $1 - $0 == ConnectionTiming.idleCheckInterval })
        }
        #expect(simulation.agents.map(\.state) == [.connected, .connected])
        // Answered checks are forgotten and the table gives back the room the setup's checks needed.
        for agent in simulation.agents {
            #expect(agent.transactions.count <= 1)
            #expect(agent.transactions.capacity <= 2, "capacity \(agent.transactions.capacity)")
        }

        let cut = simulation.now
        simulation.isCut = true
        simulation.run(for: .seconds(600))
        for agent in [Self.client, Self.gateway] {
            let failed = try #require(simulation.time(of: .disconnected, agent))
            #expect(failed - cut <= ConnectionTiming.idleCheckInterval * 4, "agent \(agent): \(failed - cut)")
            #expect(
                failed - cut
                    >= ConnectionTiming.failureTimeout(
                        checkInterval: ConnectionTiming.idleCheckInterval,
                        maximumMissedResponses: ConnectionTiming.idleMaximumMissedResponses
                    ),
                "agent \(agent): \(failed - cut)"
            )
        }
    }

    @Test func leavingIdleChecksAtOnceAndUsesTheActiveTimeout() throws {
        var simulation = Self.connectedHosts(seed: 5)
        simulation.setIdle(true, agent: Self.client)
        simulation.run(for: .seconds(100))
        let lastIdleCheck = try #require(simulation.requestTimes[Self.client].last)
        #expect(simulation.now - lastIdleCheck > ConnectionTiming.activeCheckInterval)

        simulation.isCut = true
        let wake = simulation.now
        simulation.setIdle(false, agent: Self.client)
        #expect(simulation.requestTimes[Self.client].last == wake, "a check goes out at once")
        simulation.run(for: .seconds(30))
        let checks = simulation.requestTimes[Self.client].filter { $0 >= wake }
        #expect(checks.prefix(3) == [wake, wake + .milliseconds(1_500), wake + .milliseconds(3_000)])
        let failed = try #require(simulation.time(of: .disconnected, Self.client))
        #expect(
            failed - wake
                == ConnectionTiming.failureTimeout(
                    checkInterval: ConnectionTiming.activeCheckInterval,
                    maximumMissedResponses: ConnectionTiming.activeMaximumMissedResponses
                )
        )
    }

    @Test func everyPairFailingDisconnects() throws {
        var simulation = IceSimulation(seed: 9)
        simulation.blocked = [IPSocketAddress("198.51.100.1:51820")!]
        simulation.addHost(Self.client, "192.0.2.1:51820")
        simulation.addHost(Self.gateway, "198.51.100.1:51820")
        simulation.run(for: .seconds(30))
        let failed = try #require(simulation.time(of: .disconnected, Self.client))
        // Eight transmissions at 0, 0.25, 0.75, 1.75, 3.25, 4.75, 6.25, 7.75 s, given up one RTO (1.5 s) later.
        #expect(failed - IceSimulation.start == .milliseconds(9_250))
        #expect(simulation.requestTimes[Self.client].count == ConnectionTiming.activeMaximumMissedResponses)
    }
}
