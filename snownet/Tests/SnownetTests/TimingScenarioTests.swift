import FirezoneTesting
import FirezoneTime
import ICE
import Testing

@testable import Snownet

/// The low-power connection timers (``ConnectionTiming``), measured on the simulated network: how fast a broken
/// connection is noticed, and how little an idle one sends.
@Suite struct TimingScenarioTests {
    /// Establishes a direct connection between two public hosts.
    static func established(seed: UInt64) throws -> Scenario {
        var scenario = Scenario(seed: seed, client: .publicInternet, gateway: .publicInternet)
        scenario.joinRelays()
        try scenario.connect()
        let established = scenario.run(for: .seconds(10), until: Scenario.bothEstablished)
        try #require(established, "established; \(scenario.report(seed: seed))")
        return scenario
    }

    /// Traffic keeps the connection active; the client's link is cut; the client gives the connection up seven
    /// check intervals after its first unanswered check, which comes at most one interval after the cut: 10.5 s
    /// after the cut, give or take one interval.
    @Test func aBrokenActiveConnectionFailsInAboutTenSeconds() throws {
        let interval = ConnectionTiming.activeCheckInterval
        let timeout = ConnectionTiming.failureTimeout(
            checkInterval: interval,
            maximumMissedResponses: ConnectionTiming.activeMaximumMissedResponses
        )
        var durations: [Duration] = []
        for seed in Scenario.seeds {
            var scenario = try Self.established(seed: seed)
            _ = scenario.exchange(count: 5)
            // The cut falls anywhere between two checks.
            scenario.run(for: .milliseconds(Int64(seed % 1_500)))
            let cut = scenario.simulation.now
            scenario.simulation.setLink(of: Scenario.client, to: LinkConditions(loss: 1))
            let failed = scenario.clientSendsUntilItsConnectionFails(within: .seconds(20))
            try #require(failed, "failed; \(scenario.report(seed: seed))")
            let elapsed = scenario.simulation.now - cut
            durations.append(elapsed)
            #expect(
                elapsed >= timeout - interval && elapsed <= timeout + interval,
                "failed \(elapsed) after the cut; \(TestSeeds.replayHint(seed))"
            )
            #expect(
                scenario.peer(Scenario.client).events.contains(.connectionFailed(Scenario.gateway, .iceDisconnected))
            )
        }
        print(
            "broken active connection failed after \(durations.min()!) to \(durations.max()!) (\(durations.count) seeds)"
        )
    }

    /// Idle for a minute, then cut: the client notices within four idle check intervals.
    @Test func aBrokenIdleConnectionFailsWithinFourIdleChecks() throws {
        var outcomes: [String: (count: Int, earliest: Duration, latest: Duration)] = [:]
        for seed in Scenario.seeds {
            var scenario = try Self.established(seed: seed)
            scenario.run(for: .seconds(70))
            try #require(scenario.peer(Scenario.client).node.isIdle(Scenario.gateway))
            let cut = scenario.simulation.now
            scenario.simulation.setLink(of: Scenario.client, to: LinkConditions(loss: 1))
            let limit = ConnectionTiming.idleCheckInterval * ConnectionTiming.idleMaximumMissedResponses
            let failed = scenario.run(for: limit + .seconds(1), until: Scenario.failed(Scenario.client))
            try #require(failed, "failed within \(limit); \(scenario.report(seed: seed))")
            let cause = scenario.peer(Scenario.client).events.lazy.compactMap { event -> ConnectionFailure? in
                if case .connectionFailed(_, let cause) = event { cause } else { nil }
            }.first
            let elapsed = scenario.simulation.now - cut
            let key = cause.map { "\($0)" } ?? "?"
            let previous = outcomes[key] ?? (0, elapsed, elapsed)
            outcomes[key] = (previous.count + 1, min(previous.earliest, elapsed), max(previous.latest, elapsed))
        }
        for (cause, outcome) in outcomes.sorted(by: { $0.key < $1.key }) {
            print(
                "broken idle connection failed (\(cause)) after \(outcome.earliest) to \(outcome.latest) (\(outcome.count) seeds)"
            )
        }
    }

    /// An idle connection for a simulated hour: one ICE check a minute each way and the client's WireGuard
    /// keep-alive every 25 s, nothing else but the rekeying handshakes.
    @Test func anIdleConnectionSendsOneCheckAMinuteAndAKeepaliveEvery25Seconds() throws {
        var scenario = try Self.established(seed: TestSeeds.seeds(count: 1)[0])
        scenario.run(for: .seconds(30))
        try #require(scenario.peer(Scenario.client).node.isIdle(Scenario.gateway))
        try #require(scenario.peer(Scenario.gateway).node.isIdle(Scenario.client))
        let clientBefore = scenario.peer(Scenario.client).sentToPeers
        let gatewayBefore = scenario.peer(Scenario.gateway).sentToPeers
        scenario.run(for: .seconds(3600))
        let client = scenario.peer(Scenario.client).sentToPeers - clientBefore
        let gateway = scenario.peer(Scenario.gateway).sentToPeers - gatewayBefore
        print("idle hour, client: \(client)")
        print("idle hour, gateway: \(gateway)")
        let checks = Int(Duration.seconds(3600) / ConnectionTiming.idleCheckInterval)
        let keepalives = Int(Duration.seconds(3600) / ConnectionTiming.keepaliveInterval)
        #expect((checks - 1...checks + 1).contains(client.iceRequests))
        #expect((checks - 1...checks + 1).contains(gateway.iceRequests))
        // Besides the timer's keep-alives, WireGuard's initiator confirms each new session with one (the rekeying
        // every 120 s of sending, WireGuard paper §6.1 and §5.4.4).
        let expectedKeepalives = keepalives + client.wireGuardHandshakeInitiations
        #expect((expectedKeepalives - 1...expectedKeepalives + 1).contains(client.wireGuardKeepalives))
        #expect((Int(3600 / 120) - 1...Int(3600 / 120)).contains(client.wireGuardHandshakeInitiations))
        #expect(gateway.wireGuardKeepalives == 0)
        #expect(client.wireGuardData == 0 && gateway.wireGuardData == 0)
        #expect(scenario.peer(Scenario.client).node.isEstablished(Scenario.gateway))
        #expect(
            !scenario.peer(Scenario.client).events.contains { if case .connectionFailed = $0 { true } else { false } }
        )
        // Idle tunnels keep their keys but no cipher contexts between packets (WireGuardTunnel.setLowPower).
        #expect(scenario.peer(Scenario.client).node.router.tunnel(of: Scenario.gateway)?.cipherContexts == 0)
        #expect(scenario.peer(Scenario.gateway).node.router.tunnel(of: Scenario.client)?.cipherContexts == 0)
    }

    /// Traffic on an idle connection makes it active again at once: the next check comes within one active
    /// interval.
    @Test func trafficRevertsAnIdleConnectionAtOnce() throws {
        var scenario = try Self.established(seed: TestSeeds.seeds(count: 1)[0])
        scenario.run(for: .seconds(30))
        try #require(scenario.peer(Scenario.client).node.isIdle(Scenario.gateway))
        let before = scenario.peer(Scenario.client).sentToPeers
        scenario.simulation.withNode(Scenario.client, as: PeerHost.self) { host, now in
            _ = try? host.send(Scenario.packet("wake up", fromClient: true), to: Scenario.gateway, now: now)
        }
        #expect(!scenario.peer(Scenario.client).node.isIdle(Scenario.gateway))
        #expect(scenario.peer(Scenario.client).node.router.tunnel(of: Scenario.gateway)?.cipherContexts ?? 0 > 0)
        scenario.run(for: ConnectionTiming.activeCheckInterval)
        let sent = scenario.peer(Scenario.client).sentToPeers - before
        #expect(sent.iceRequests >= 1, "\(sent)")
    }
}
