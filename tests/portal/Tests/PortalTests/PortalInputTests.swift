import NIOPosix
import PortalMessages
import PortalServer
import PortalTestSupport
import Testing

/// What no component should send reaches the portal anyway; it answers with errors and keeps serving.
@Suite(.timeLimit(.minutes(1)))
struct PortalInputTests {
    static let clientPath =
        "/client/websocket?token=client-1-token&public_key=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE%3D"

    @Test
    func badFramesGetErrorRepliesAndTheSocketStays() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let socket = try await RawWebSocket(port: fixture.port, path: Self.clientPath, group: group)
        // Before the join, events of the topic are unknown to the server.
        try await socket.send(
            #"{"topic":"client","event":"create_flow","payload":{"resource_id":"res-lan","connected_gateway_ids":[]},"ref":1}"#
        )
        try await socket.send(#"{"topic":"client","event":"phx_join","payload":null,"ref":2}"#)
        for garbage in ["", "not json", "[]", #"{"topic":5}"#, String(repeating: "{", count: 10_000), "\u{0}\u{1}"] {
            try await socket.send(garbage)
        }
        try await socket.sendBinary([0xFF, 0x00, 0x13])
        try await socket.send(#"{"topic":"client","event":"create_flow","payload":{"resource_id":7},"ref":3}"#)
        try await socket.send(#"{"topic":"client","event":"no_such_event","payload":{},"ref":4}"#)
        try await socket.send(#"{"topic":"elsewhere","event":"create_flow","payload":{},"ref":5}"#)
        try await socket.send(#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":6}"#)
        let frames = try await socket.frames(atLeast: 7)
        let messages = frames.compactMap {
            try? PortalCodec.decode($0, as: PhoenixMessage<ClientInbound, EmptyPayload>.self)
        }
        func reply(_ ref: UInt64) -> PhoenixBody<ClientInbound, EmptyPayload>? {
            messages.first { $0.ref?.number == ref }?.body
        }
        #expect(reply(1) == .reply(.error(reason: "unmatched topic")))
        #expect(reply(2) == .reply(.ok))
        #expect(messages.contains { if case .event(.initialize) = $0.body { true } else { false } })
        #expect(reply(3) == .reply(.error(reason: "malformed_payload")))
        #expect(reply(4) == .reply(.error(reason: "unknown_message")))
        #expect(reply(5) == .reply(.error(reason: "unmatched topic")))
        #expect(reply(6) == .reply(.ok))
        #expect(messages.first { $0.ref?.number == 6 }?.topic == "phoenix")
        #expect(!socket.isClosed)
        // The portal still serves: a flow request still gets its answer.
        try await socket.send(
            #"{"topic":"client","event":"create_flow","payload":{"resource_id":"res-lan","connected_gateway_ids":[]},"ref":7}"#
        )
        let later = try await socket.frames(atLeast: frames.count + 1)
        #expect(later.last?.contains("flow_creation_failed") == true)
        try await socket.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func aRelayJoinWithoutAStampSecretIsRefused() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let socket = try await RawWebSocket(
            port: fixture.port,
            path: "/relay/websocket?token=relay-1-token&ipv4=127.0.0.1&port=3478",
            group: group
        )
        try await socket.send(#"{"topic":"relay","event":"phx_join","payload":null,"ref":0}"#)
        try await socket.send(#"{"topic":"relay","event":"phx_join","payload":{"stamp_secret":""},"ref":1}"#)
        let frames = try await socket.frames(atLeast: 2)
        #expect(frames.count == 2)
        #expect(frames.allSatisfy { $0.contains("invalid_join_payload") || $0.contains("stamp_secret: is required") })
        #expect(try await fixture.admin("GET", "/v1/presence").1.contains(#""relays":[]"#))
        try await socket.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test(arguments: [
        ("/client/websocket", 401, "Missing token"),
        ("/client/websocket?token=", 401, "Missing token"),
        ("/client/websocket?token=nope&public_key=x", 401, "Invalid token"),
        ("/relay/websocket?token=client-1-token&port=3478&ipv4=127.0.0.1", 401, "Invalid token"),
        ("/client/websocket?token=client-1-token", 422, "public_key: is invalid"),
        ("/client/websocket?token=client-1-token&public_key=c2hvcnQ%3D", 422, "public_key: is invalid"),
        ("/relay/websocket?token=relay-1-token&ipv4=127.0.0.1", 422, "port: is invalid"),
        ("/relay/websocket?token=relay-1-token&port=3478", 422, "ipv4, ipv6: a valid public address is required"),
        (
            "/relay/websocket?token=relay-1-token&port=3478&ipv4=1.2.3", 422,
            "ipv4, ipv6: a valid public address is required"
        ),
        ("/elsewhere", 404, "Not found"),
        ("/relay/websocket?token=relay-1-token&port=3478&ipv4=127.0.0.1", 400, "WebSocket upgrade required"),
    ])
    func refusedRequestsGetAStatusAndAPlainTextReason(path: String, status: Int, reason: String) async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let response = try await HTTPRequest.send(
            method: "GET",
            host: "127.0.0.1",
            port: fixture.port,
            path: path,
            group: group
        )
        #expect(response.0 == status)
        #expect(response.1 == reason)
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func theTokenMayComeAsABearerHeader() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let response = try await HTTPRequest.send(
            method: "GET",
            host: "127.0.0.1",
            port: fixture.port,
            path: "/relay/websocket?port=3478&ipv4=127.0.0.1",
            headers: [("X-Authorization", "Bearer relay-1-token")],
            group: group
        )
        // Authenticated; only the missing upgrade is left to complain about.
        #expect(response == (400, "WebSocket upgrade required"))
        try await fixture.stop()
        try await group.shutdownGracefully()
    }
}
