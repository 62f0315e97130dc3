import FirezoneTesting
import FirezoneTime
import PhoenixCore
import PortalMessages
import Testing

/// Fails every attempt of `harness` as it is made and returns the delays the session chose, until it gives up
/// or `limit` attempts have failed.
func failEveryAttempt(_ harness: inout ClientHarness, with failure: PhoenixConnectFailure, limit: Int) -> [Duration] {
    var delays: [Duration] = []
    harness.advance(by: .zero)
    while delays.count < limit, let connection = harness.lastConnect {
        _ = harness.take()
        harness.session.handleConnectFailed(connection, failure, now: harness.now)
        let (_, events) = harness.take()
        guard let (_, delay) = events.first?.disconnect else {
            harness.events = events
            break
        }
        delays.append(delay)
        harness.advance(by: delay)
    }
    return delays
}

struct PhoenixSessionReconnectTests {
    @Test(arguments: TestSeeds.seeds(count: 8))
    func retriesAtOnceThenBacksOffExponentiallyWithJitter(seed: UInt64) {
        var harness = ClientHarness(joinPayload: EmptyPayload(), partitionTime: nil, seed: seed)
        let delays = failEveryAttempt(&harness, with: .transport("connection refused"), limit: 20)
        #expect(delays.count == 20, "\(TestSeeds.replayHint(seed))")
        #expect(delays.first == .zero)
        var interval = 0.5
        for (index, delay) in delays.dropFirst().enumerated() {
            let seconds = Double(delay.nanoseconds) / 1e9
            #expect(
                seconds >= interval * 0.5 - 1e-9 && seconds <= interval * 1.5 + 1e-9,
                "retry \(index + 1): \(seconds) s for interval \(interval) s; \(TestSeeds.replayHint(seed))"
            )
            interval = min(interval * 1.5, 60)
        }
        // By the 20th retry the interval is capped at 60 s.
        #expect(delays.last! <= .seconds(90))
        #expect(delays.last! >= .seconds(30))
    }

    @Test
    func theSameSeedGivesTheSameSchedule() {
        var first = ClientHarness(joinPayload: EmptyPayload(), partitionTime: nil, seed: 42)
        var second = ClientHarness(joinPayload: EmptyPayload(), partitionTime: nil, seed: 42)
        var third = ClientHarness(joinPayload: EmptyPayload(), partitionTime: nil, seed: 43)
        let a = failEveryAttempt(&first, with: .transport("refused"), limit: 10)
        let b = failEveryAttempt(&second, with: .transport("refused"), limit: 10)
        let c = failEveryAttempt(&third, with: .transport("refused"), limit: 10)
        #expect(a == b)
        #expect(a != c)
    }

    @Test
    func aSuccessfulJoinResetsTheBackoff() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload(), partitionTime: nil)
        let delays = failEveryAttempt(&harness, with: .transport("refused"), limit: 6)
        #expect(delays.last! > .seconds(1))
        let connection = harness.join()
        harness.session.handleDisconnected(connection, .failed("reset"), now: harness.now)
        #expect(harness.take().events.contains { $0.disconnect?.1 == .zero })
        harness.advance(by: .zero)
        harness.session.handleConnectFailed(try #require(harness.lastConnect), .transport("refused"), now: harness.now)
        let delay = try #require(harness.take().events.first?.disconnect?.1)
        #expect(delay >= .milliseconds(250) && delay <= .milliseconds(750))
    }

    /// A portal that accepts the socket and closes it before the join reply is still unreachable: the delays keep
    /// growing and the partition clock keeps running.
    @Test
    func aSocketThatOpensButNeverJoinsDoesNotResetTheBackoff() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload(), partitionTime: .seconds(60))
        var delays: [Duration] = []
        var failure: PhoenixFailure.Kind?
        harness.advance(by: .zero)
        while failure == nil, delays.count < 50 {
            let connection = try #require(harness.lastConnect)
            _ = harness.take()
            harness.session.handleConnected(connection, now: harness.now)
            harness.session.handleDisconnected(connection, .closeFrame(code: 1001), now: harness.now)
            let events = harness.take().events
            failure = events.compactMap(\.failure).first
            if let delay = events.compactMap(\.disconnect?.1).first {
                delays.append(delay)
                harness.advance(by: delay)
            }
        }
        #expect(delays.first == .zero)
        #expect(delays.dropFirst().allSatisfy { $0 > .zero })
        #expect(failure == .partitionTimeout(.seconds(60)))
    }

    @Test
    func givesUpWhenThePortalStaysUnreachableForThePartitionTime() {
        var harness = ClientHarness(joinPayload: EmptyPayload(), partitionTime: .seconds(15 * 60))
        let delays = failEveryAttempt(&harness, with: .transport("refused"), limit: 1000)
        #expect(harness.events.last?.failure == .partitionTimeout(.seconds(900)))
        // The last attempt went out exactly when the partition time ended.
        #expect(harness.now == Instant.zero + .seconds(900))
        #expect(delays.count > 10)
        #expect(harness.session.isClosed)
        #expect(harness.session.pollTimeout() == nil)
    }

    @Test
    func withoutAPartitionTimeItNeverGivesUp() {
        var harness = ClientHarness(joinPayload: EmptyPayload(), partitionTime: nil)
        _ = failEveryAttempt(&harness, with: .transport("refused"), limit: 200)
        #expect(harness.now > Instant.zero + .seconds(3 * 3600))
        #expect(!harness.session.isClosed)
    }

    @Test
    func thePartitionClockStartsWhenAJoinedSessionIsLost() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload(), partitionTime: .seconds(10))
        let connection = harness.join()
        _ = harness.take()
        // Joined for longer than the partition time (no heartbeat is due yet).
        harness.advance(by: .seconds(20))
        harness.session.handleDisconnected(connection, .failed("reset"), now: harness.now)
        let (_, events) = harness.take()
        #expect(events.first?.disconnect?.1 == .zero)
        #expect(!harness.session.isClosed)
        _ = failEveryAttempt(&harness, with: .transport("refused"), limit: 1000)
        #expect(harness.events.last?.failure == .partitionTimeout(.seconds(10)))
        #expect(harness.now == Instant.zero + .seconds(30))
    }

    @Test(arguments: [401, 403, 404, 422, 429])
    func aClientErrorOnTheUpgradeIsFatal(status: Int) throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        harness.advance(by: .zero)
        let connection = try #require(harness.lastConnect)
        harness.session.handleConnectFailed(
            connection,
            .upgradeRejected(status: status, body: "Invalid token"),
            now: harness.now
        )
        let (actions, events) = harness.take()
        #expect(events == [.failed(PhoenixFailure(.rejected(status: status, body: "Invalid token")))])
        #expect(actions.last == .close(connection))
        if status == 401 {
            #expect(
                "\(PhoenixFailure(.rejected(status: 401, body: "Invalid token")))".contains(
                    "token is invalid or missing"
                )
            )
        }
    }

    @Test
    func serverErrorsOnTheUpgradeAreRetriedAndTLSErrorsAreFatal() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        harness.advance(by: .zero)
        harness.session.handleConnectFailed(
            try #require(harness.lastConnect),
            .upgradeRejected(status: 503, body: ""),
            now: harness.now
        )
        #expect(harness.take().events.first?.disconnect != nil)
        harness.advance(by: .zero)
        harness.session.handleConnectFailed(
            try #require(harness.lastConnect),
            .tls("certificate verify failed"),
            now: harness.now
        )
        #expect(harness.take().events.last?.failure == .tls("certificate verify failed"))
    }

    @Test
    func anAttemptThatNeverCompletesTimesOut() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        harness.advance(by: .zero)
        let connection = try #require(harness.lastConnect)
        #expect(harness.session.pollTimeout()?.deadline == harness.now + PhoenixConstants.connectAttemptTimeout)
        _ = harness.take()
        harness.advance(by: PhoenixConstants.connectAttemptTimeout)
        let (actions, events) = harness.take()
        #expect(actions.first == .close(connection))
        #expect(events.first?.disconnect?.0 == .connectTimedOut)
    }
}

struct PhoenixSessionQueueTests {
    @Test
    func theQueueHoldsThirtyTwoAndDropsTheOldestVisibly() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        for index in 0..<34 {
            harness.session.send(flow(index), now: harness.now)
        }
        let (_, events) = harness.take()
        #expect(
            events == [.outboundMessageDropped(event: "create_flow"), .outboundMessageDropped(event: "create_flow")]
        )
        #expect(harness.session.stats.outboundMessagesDropped == 2)
        _ = harness.join()
        let frames = ClientHarness.frames(in: harness.take().actions).filter {
            if case .event = $0.body { true } else { false }
        }
        #expect(frames.map(\.body) == (2..<34).map { .event(flow($0)) })
    }

    @Test
    func queuedMessagesSurviveAReconnect() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        harness.session.send(createFlow, now: harness.now)
        harness.advance(by: .zero)
        harness.session.handleConnectFailed(try #require(harness.lastConnect), .transport("refused"), now: harness.now)
        _ = harness.join()
        let frames = ClientHarness.frames(in: harness.take().actions)
        #expect(frames.map(\.body).contains(.event(createFlow)))
    }

    @Test
    func closingStopsEverything() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let connection = harness.join()
        _ = harness.take()
        harness.session.close(now: harness.now)
        harness.session.send(createFlow, now: harness.now)
        #expect(harness.take().actions == [.close(connection)])
        #expect(harness.session.pollTimeout() == nil)
    }
}
