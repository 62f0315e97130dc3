import FirezoneTesting
import FirezoneTime
import PhoenixCore
import PortalMessages
import Testing

typealias ClientHarness = SessionHarness<ClientTopic>

let createFlow = ClientOutbound.createFlow(CreateFlow(resourceID: ResourceID("r1"), connectedGatewayIDs: []))

func flow(_ index: Int) -> ClientOutbound {
    .createFlow(CreateFlow(resourceID: ResourceID("r\(index)"), connectedGatewayIDs: []))
}

struct PhoenixSessionJoinTests {
    @Test
    func connectsAtOnceAndJoinsWithANullPayload() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        harness.advance(by: .zero)
        let connection = try #require(harness.lastConnect)
        harness.session.handleConnected(connection, now: harness.now)
        let (actions, _) = harness.take()
        guard case .send(_, let text) = actions.last else {
            Issue.record("no join sent: \(actions)")
            return
        }
        #expect(text == #"{"event":"phx_join","payload":null,"ref":0,"topic":"client"}"#)
    }

    @Test
    func theRelayJoinsWithItsStampSecret() throws {
        var harness = SessionHarness<RelayTopic>(joinPayload: RelayJoin(stampSecret: "ab12"))
        harness.advance(by: .zero)
        harness.session.handleConnected(try #require(harness.lastConnect), now: harness.now)
        let (actions, _) = harness.take()
        let frames = SessionHarness<RelayTopic>.frames(in: actions)
        #expect(frames.map(\.body) == [.join(RelayJoin(stampSecret: "ab12"))])
        #expect(frames.first?.topic == "relay")
    }

    @Test
    func aJoinReplyJoinsAndFlushesTheQueueInOrder() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        harness.session.send(flow(1), now: harness.now)
        harness.session.send(flow(2), now: harness.now)
        harness.advance(by: .zero)
        let connection = try #require(harness.lastConnect)
        harness.session.handleConnected(connection, now: harness.now)
        // Nothing but the join goes out before the join reply.
        #expect(ClientHarness.frames(in: harness.take().actions).map(\.body) == [.join(EmptyPayload())])
        harness.reply(ref: 0, on: connection)
        let (actions, events) = harness.take()
        #expect(events.contains { $0.isJoined })
        #expect(ClientHarness.frames(in: actions).map(\.body) == [.event(flow(1)), .event(flow(2))])
        #expect(harness.session.isJoined)
    }

    @Test
    func aJoinWithoutReplyTimesOutAfterFiveSecondsAndRetriesAtOnce() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        harness.advance(by: .zero)
        let first = try #require(harness.lastConnect)
        harness.session.handleConnected(first, now: harness.now)
        _ = harness.take()
        harness.advance(by: .milliseconds(4999))
        #expect(harness.take().actions.isEmpty)
        harness.advance(by: .milliseconds(1))
        let (actions, events) = harness.take()
        #expect(actions.first?.closedConnection == first)
        #expect(events.first?.disconnect?.0 == .joinTimedOut)
        #expect(events.first?.disconnect?.1 == .zero)
        guard case .connect(let second, _) = actions.last else {
            Issue.record("no reconnect: \(actions)")
            return
        }
        #expect(second > first)
    }

    @Test
    func aJoinErrorIsFatal() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        harness.advance(by: .zero)
        let connection = try #require(harness.lastConnect)
        harness.session.handleConnected(connection, now: harness.now)
        harness.reply(ref: 0, status: #"{"status":"error","response":{"reason":"disabled"}}"#, on: connection)
        let (actions, events) = harness.take()
        #expect(events.last?.failure == .joinRejected(reason: "disabled"))
        #expect(actions.last?.closedConnection == connection)
        #expect(harness.session.isClosed)
        harness.advance(by: .seconds(3600))
        #expect(harness.take().actions.isEmpty)
    }

    @Test
    func unmatchedTopicWhileJoinedJoinsAgain() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let connection = harness.join()
        _ = harness.take()
        harness.session.send(createFlow, now: harness.now)
        harness.reply(ref: 1, status: #"{"status":"error","response":{"reason":"unmatched topic"}}"#, on: connection)
        let frames = ClientHarness.frames(in: harness.take().actions)
        #expect(frames.map(\.body) == [.event(createFlow), .join(EmptyPayload())])
        #expect(frames.last?.ref == .number(2))
        #expect(!harness.session.isJoined)
        harness.reply(ref: 2, on: connection)
        #expect(harness.session.isJoined)
    }

    @Test
    func otherErrorRepliesAreReportedAndTheChannelStays() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let connection = harness.join()
        _ = harness.take()
        harness.reply(ref: 1, status: #"{"status":"error","response":{"reason":"unknown_message"}}"#, on: connection)
        let (actions, events) = harness.take()
        #expect(events == [.errorReply(reason: "unknown_message")])
        #expect(actions.isEmpty)
        #expect(harness.session.isJoined)
    }
}

struct PhoenixSessionHeartbeatTests {
    @Test
    func aHeartbeatGoesOutThirtySecondsAfterTheSocketOpened() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let connection = harness.join()
        _ = harness.take()
        harness.advance(by: .milliseconds(29_999))
        #expect(harness.take().actions.isEmpty)
        harness.advance(by: .milliseconds(1))
        let (actions, _) = harness.take()
        guard case .send(connection, let text) = actions.first else {
            Issue.record("no heartbeat: \(actions)")
            return
        }
        #expect(text == #"{"event":"heartbeat","payload":{},"ref":1,"topic":"phoenix"}"#)
        #expect(harness.session.stats.heartbeatsSent == 1)
    }

    /// Sends `createFlow` every five seconds for `duration`, answering heartbeats when `answering`; returns the
    /// times (since the start) at which heartbeats went out and the events.
    static func steadyTraffic(
        _ harness: inout ClientHarness,
        for duration: Duration,
        answering: Bool,
        on connection: PhoenixConnectionID
    ) -> (heartbeats: [Duration], events: [PhoenixEvent<ClientInbound>]) {
        let start = harness.now
        var heartbeats: [Duration] = []
        var events: [PhoenixEvent<ClientInbound>] = []
        while harness.now - start < duration {
            harness.advance(by: .seconds(5))
            harness.session.send(createFlow, now: harness.now)
            let taken = harness.take()
            events += taken.events
            for frame in ClientHarness.frames(in: taken.actions) where frame.body == .heartbeat {
                heartbeats.append(harness.now - start)
                if answering {
                    harness.reply(ref: frame.ref!.number!, topic: "phoenix", on: connection)
                }
            }
        }
        return (heartbeats, events)
    }

    /// Messages every five seconds do not postpone the heartbeat: it still goes out every thirty.
    @Test
    func steadyOutboundTrafficDoesNotPostponeTheHeartbeat() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let connection = harness.join()
        _ = harness.take()
        let (heartbeats, events) = Self.steadyTraffic(&harness, for: .seconds(120), answering: true, on: connection)
        #expect(heartbeats == [.seconds(30), .seconds(60), .seconds(90), .seconds(120)])
        #expect(events.isEmpty)
        #expect(harness.session.isJoined)
        #expect(harness.session.stats.messagesSent == 24)
    }

    /// A socket that takes our frames but delivers nothing back is found dead while messages keep going out.
    @Test
    func anUnansweredHeartbeatUnderSteadyTrafficMeansADeadSocket() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let connection = harness.join()
        _ = harness.take()
        let (heartbeats, events) = Self.steadyTraffic(&harness, for: .seconds(60), answering: false, on: connection)
        #expect(heartbeats == [.seconds(30)])
        #expect(events.compactMap(\.disconnect?.0) == [.heartbeatTimedOut])
        #expect(!harness.session.isJoined)
    }

    /// Thirty-one seconds of a joined session and a portal that answers: one heartbeat, no second attempt, no
    /// disconnect.
    @Test
    func aJoinedSessionSendsOneHeartbeatIn31SecondsAndStays() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let connection = harness.join()
        _ = harness.take()
        harness.advance(by: .seconds(31))
        let (actions, events) = harness.take()
        let frames = ClientHarness.frames(in: actions)
        #expect(frames.map(\.body) == [.heartbeat])
        harness.reply(ref: try #require(frames.first?.ref?.number), topic: "phoenix", on: connection)
        #expect(events.isEmpty)
        #expect(harness.take().events.isEmpty)
        #expect(harness.session.stats.heartbeatsSent == 1)
        #expect(harness.session.stats.connectAttempts == 1)
        #expect(harness.session.isJoined)
    }

    @Test
    func answeredHeartbeatsKeepTheSocket() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let connection = harness.join()
        for round in 0..<10 {
            _ = harness.take()
            harness.advance(by: .seconds(30))
            let frames = ClientHarness.frames(in: harness.take().actions)
            #expect(frames.map(\.body) == [.heartbeat], "round \(round)")
            harness.reply(ref: try #require(frames.first?.ref?.number), topic: "phoenix", on: connection)
        }
        #expect(harness.session.isJoined)
    }

    @Test
    func aHeartbeatUnansweredWhenTheNextIsDueMeansADeadSocket() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let connection = harness.join()
        _ = harness.take()
        harness.advance(by: .seconds(30))
        #expect(ClientHarness.frames(in: harness.take().actions).map(\.body) == [.heartbeat])
        harness.advance(by: .seconds(30))
        let (actions, events) = harness.take()
        #expect(actions.first?.closedConnection == connection)
        #expect(events.contains { $0.disconnect?.0 == .heartbeatTimedOut })
        // The first retry after a joined connection goes out at once.
        guard case .connect = actions.last else {
            Issue.record("no reconnect: \(actions)")
            return
        }
    }
}

struct PhoenixSessionServerEventTests {
    @Test
    func pushesOfTheTopicBecomeMessages() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let connection = harness.join()
        _ = harness.take()
        harness.receive(#"{"topic":"client","event":"resource_deleted","payload":"r9","ref":null}"#, on: connection)
        harness.receive(#"{"topic":"other","event":"resource_deleted","payload":"r9","ref":null}"#, on: connection)
        harness.receive(#"{"topic":"client","event":"shout","payload":{},"ref":null}"#, on: connection)
        harness.receive(#"{"topic":"client","event":"init","payload":{"interface":7},"ref":null}"#, on: connection)
        harness.receive("]]", on: connection)
        let (actions, events) = harness.take()
        #expect(actions.isEmpty)
        #expect(events.count == 4)
        #expect(events[0] == .message(.resourceDeleted(ResourceID("r9"))))
        #expect(events[1] == .unknownEvent("shout"))
        guard case .malformedMessage(let error) = events[2], case .malformedMessage(let envelope) = events[3] else {
            Issue.record("malformed messages not reported: \(events)")
            return
        }
        #expect(error.event == "init")
        #expect(envelope.kind == .invalidEnvelope)
        #expect(harness.session.isJoined)
        #expect(harness.session.stats.malformedMessages == 2)
    }

    @Test
    func phxCloseReconnectsAndPhxErrorIsOnlyReported() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let connection = harness.join()
        _ = harness.take()
        harness.receive(#"{"topic":"client","event":"phx_error","payload":{},"ref":null}"#, on: connection)
        #expect(harness.take().events == [.channelError])
        harness.receive(#"{"topic":"client","event":"phx_close","payload":{},"ref":null}"#, on: connection)
        let (actions, events) = harness.take()
        #expect(actions.first?.closedConnection == connection)
        #expect(events.first?.disconnect?.0 == .channelClosed)
    }

    @Test
    func tokenExpiredIsFatalAndOtherDisconnectsReconnect() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        var connection = harness.join()
        _ = harness.take()
        harness.receive(
            #"{"topic":"client","event":"disconnect","payload":{"reason":"shutdown"},"ref":null}"#,
            on: connection
        )
        #expect(harness.take().events.first?.disconnect?.0 == .disconnected(reason: "shutdown"))
        connection = harness.join()
        _ = harness.take()
        harness.receive(
            try String(contentsOfFile: fixturePath("phoenix-disconnect.json"), encoding: .utf8),
            on: connection
        )
        let (actions, events) = harness.take()
        #expect(events == [.failed(PhoenixFailure(.tokenExpired))])
        #expect(actions == [.close(connection)])
        #expect(harness.session.isClosed)
    }

    @Test
    func reportsAboutAnAbandonedConnectionAreIgnored() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let old = harness.join()
        _ = harness.take()
        harness.session.handleDisconnected(old, .failed("reset"), now: harness.now)
        harness.advance(by: .zero)
        let new = try #require(harness.lastConnect)
        _ = harness.take()
        // The old socket's late reports change nothing.
        harness.session.handleDisconnected(old, .failed("late"), now: harness.now)
        harness.receive(#"{"topic":"client","event":"phx_close","payload":{},"ref":null}"#, on: old)
        #expect(harness.take().actions.isEmpty)
        harness.session.handleConnected(new, now: harness.now)
        #expect(ClientHarness.frames(in: harness.take().actions).map(\.body) == [.join(EmptyPayload())])
    }

    @Test
    func refsKeepCountingAcrossReconnects() throws {
        var harness = ClientHarness(joinPayload: EmptyPayload())
        let first = harness.join()
        harness.session.handleDisconnected(first, .failed("reset"), now: harness.now)
        harness.advance(by: .zero)
        let second = try #require(harness.lastConnect)
        _ = harness.take()
        harness.session.handleConnected(second, now: harness.now)
        #expect(ClientHarness.frames(in: harness.take().actions).map(\.ref) == [.number(1)])
    }
}

func fixturePath(_ name: String) -> String {
    var components = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(2)
    return (components + ["PortalMessagesTests", "Fixtures", Substring(name)]).joined(separator: "/")
}
