import Glibc
import NIOCore
import NIOPosix
import PhoenixChannel
import PhoenixCore
import PortalMessages
import PortalServer
import PortalTestSupport
import Testing

/// PhoenixChannel against the local portal and hand-made WebSocket servers, over real sockets on localhost.
///
/// Timers are PhoenixCore's and tested there on virtual time (`PhoenixSessionTests`); these tests wait for events.
@Suite(.timeLimit(.minutes(2)))
struct PhoenixChannelTests {
    @Test
    func joinsAndReceivesInit() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (channel, events) = try connectClient(fixture, group: group)
        try await events.next { $0 == .joined ? () : nil }
        let initial = try await events.next { event -> ClientInit? in
            if case .initialize(let initial)? = event.message { initial } else { nil }
        }
        #expect(initial.interface.ipv4.description == "100.64.0.1")
        #expect(initial.interface.ipv6.description == "fd00:2021:1111::1")
        #expect(initial.interface.upstreamDNS == [.ipPort(.init("1.1.1.1:53")!)])
        #expect(initial.interface.searchDomain == "corp.example")
        // Policies give client-1 every resource but the admins' one.
        #expect(
            initial.resources.elements.map(\.id) == [
                TestWorld.lan, TestWorld.corp, TestWorld.remote, TestWorld.elsewhere,
            ]
        )
        #expect(initial.relays.elements.isEmpty)
        let (status, presence) = try await fixture.admin("GET", "/v1/presence")
        #expect(status == 200)
        #expect(presence == #"{"clients":["client-1"],"gateways":[],"relays":[]}"#)
        channel.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test(arguments: [("", "Missing token"), ("not-a-token", "Invalid token"), ("gw-1-token", "Invalid token")])
    func aMissingOrWrongTokenIsFatalWithThePortalsReason(token: String, reason: String) async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (_, events) = try connectClient(fixture, token: token, group: group)
        let failure = try await events.next { event -> PhoenixFailure? in
            if case .failed(let failure) = event { failure } else { nil }
        }
        #expect(failure.kind == .rejected(status: 401, body: reason))
        #expect(failure.description.contains("token is invalid or missing"))
        // `.failed` is terminal: the stream ends with nothing after it, and no attempt follows.
        #expect(try await events.remainderAfterTheEnd().isEmpty)
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func tokenExpiredEndsTheSession() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (_, events) = try connectClient(fixture, group: group)
        try await events.next { $0 == .joined ? () : nil }
        let (status, _) = try await fixture.admin("POST", "/v1/components/client-1/expire-token")
        #expect(status == 200)
        try await events.next { $0 == .failed(PhoenixFailure(.tokenExpired)) ? () : nil }
        // The token no longer works.
        let (_, again) = try connectClient(fixture, group: group)
        try await again.next { $0 == .failed(PhoenixFailure(.rejected(status: 401, body: "Invalid token"))) ? () : nil }
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func aClientsSessionEndsWhenItsTokenExpires() async throws {
        var configuration = PortalConfiguration.test
        // Far enough ahead that the client joins first even when the machine is busy (a full `swift test` runs
        // suites in parallel): the join has to succeed before the token can expire in the session.
        configuration.clients[0].tokenExpiresAt = UInt64(time(nil)) + 6
        let fixture = try await PortalFixture(configuration: configuration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (_, events) = try connectClient(fixture, group: group)
        try await events.next { $0 == .joined ? () : nil }
        try await events.next(within: .seconds(15)) { $0 == .failed(PhoenixFailure(.tokenExpired)) ? () : nil }
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func reconnectsAndRejoinsAfterThePortalRestarts() async throws {
        let first = try await PortalFixture()
        let port = first.port
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (channel, events) = try connectClient(first, group: group)
        try await events.next { $0 == .joined ? () : nil }
        try await first.stop()
        let cause = try await events.next { event -> PhoenixDisconnect? in
            if case .disconnected(let cause, _) = event { cause } else { nil }
        }
        // The portal's sockets end with its event loops, without a close frame.
        #expect(cause == .socketClosed(.connectionClosed))
        // Down for a moment: attempts fail and back off.
        try await events.next { event -> Void? in
            if case .disconnected(.connectFailed, let delay) = event, delay > .zero { () } else { nil }
        }
        let second = try await PortalFixture(port: port)
        try await events.next(within: .seconds(20)) { $0 == .joined ? () : nil }
        try await events.next { $0.message.map { if case .initialize = $0 { () } else { nil } } ?? nil }
        channel.close()
        try await second.stop()
        try await group.shutdownGracefully()
    }

    /// The join's five-second timeout and the retry are PhoenixCore's (`PhoenixSessionJoinTests`); this is the
    /// shell's part: the upgrade request it makes and the join frame it sends on the open socket.
    @Test
    func theUpgradeRequestNamesTheComponentAndTheJoinGoesOut() async throws {
        let silent = try await SilentWebSocketServer()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (channel, _) = try connect(
            ClientTopic.self,
            to: "ws://127.0.0.1:\(silent.port)",
            token: "t",
            parameters: .client(id: "e", name: nil, publicKey: TestWorld.key(1).base64),
            joinPayload: EmptyPayload(),
            group: group
        )
        let (request, join) = try await silent.firstJoin()
        #expect(join == #"{"event":"phx_join","payload":null,"ref":0,"topic":"client"}"#)
        // The seed era's path and query, and a User-Agent naming the component type.
        #expect(
            request.uri
                == "/client/websocket?token=t&external_id=e&public_key=\(TestWorld.key(1).base64.replacingOccurrences(of: "=", with: "%3D"))"
        )
        let userAgent = try #require(request.headers["User-Agent"].first)
        #expect(
            userAgent.wholeMatch(of: /[^\/ ]+\/[^ ]+ headless-client\/0\.0\.0 \([^;]+; [^)]+\)/) != nil,
            "\(userAgent)"
        )
        #expect(request.headers["X-Authorization"].isEmpty)
        channel.close()
        try await silent.close()
        try await group.shutdownGracefully()
    }

    @Test
    func aCloseFrameReconnectsAtOnceWithItsStatusCode() async throws {
        let silent = try await SilentWebSocketServer(closingAfterTheJoinWith: .goingAway)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (channel, events) = try connect(
            ClientTopic.self,
            to: "ws://127.0.0.1:\(silent.port)",
            token: "t",
            parameters: .client(id: "e", name: nil, publicKey: TestWorld.key(1).base64),
            joinPayload: EmptyPayload(),
            group: group
        )
        try await events.next { $0 == .disconnected(.socketClosed(.closeFrame(code: 1001)), retryIn: .zero) ? () : nil }
        channel.close()
        try await silent.close()
        try await group.shutdownGracefully()
    }

    @Test
    func aSocketSilentForThePortalsTimeoutIsClosedAndTheChannelReconnects() async throws {
        var options = Portal.Options.test
        options.clientSocketTimeout = .milliseconds(500)
        let fixture = try await PortalFixture(options: options)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (channel, events) = try connectClient(fixture, group: group)
        try await events.next { $0 == .joined ? () : nil }
        // No heartbeat is due for 30 s, so the portal ends the socket; the channel comes back at once.
        try await events.next { $0 == .disconnected(.socketClosed(.connectionClosed), retryIn: .zero) ? () : nil }
        try await events.next { $0 == .joined ? () : nil }
        channel.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }
}
