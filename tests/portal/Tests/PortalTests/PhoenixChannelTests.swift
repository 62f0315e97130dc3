import Glibc
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import PhoenixChannel
import PhoenixCore
import PortalMessages
import PortalServer
import Synchronization
import Testing

/// The phoenix-channel library against the local portal, over real sockets on localhost.
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
        #expect(initial.resources.elements.map(\.id) == [TestWorld.lan, TestWorld.corp, TestWorld.remote, TestWorld.elsewhere])
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
        try await Task.sleep(for: .milliseconds(100))
        #expect(events.isFinished)
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
        configuration.clients[0].tokenExpiresAt = UInt64(time(nil)) + 2
        let fixture = try await PortalFixture(configuration: configuration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (_, events) = try connectClient(fixture, group: group)
        try await events.next { $0 == .joined ? () : nil }
        try await events.next(within: .seconds(5)) { $0 == .failed(PhoenixFailure(.tokenExpired)) ? () : nil }
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
        #expect(cause == .socketClosed("the connection closed") || "\(cause)".contains("closed"))
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

    @Test
    func aJoinWithoutReplyTimesOutAndReconnects() async throws {
        let silent = try await SilentWebSocketServer()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let started = ContinuousClock.now
        let (channel, events) = try connect(
            ClientTopic.self,
            to: "ws://127.0.0.1:\(silent.port)",
            token: "t",
            parameters: .client(externalID: "e", name: nil, publicKey: TestWorld.key(1).base64),
            joinPayload: EmptyPayload(),
            group: group
        )
        try await events.next { event -> Void? in
            if case .disconnected(.joinTimedOut, .zero) = event { () } else { nil }
        }
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .milliseconds(4900) && elapsed < .seconds(8))
        // The join went out, and the retry connects again at once.
        #expect(silent.joinsReceived >= 1)
        // The upgrade request: the seed era's path and query, and a User-Agent naming the component type.
        let request = try #require(silent.lastRequest)
        #expect(request.uri == "/client/websocket?token=t&external_id=e&public_key=\(TestWorld.key(1).base64.replacingOccurrences(of: "=", with: "%3D"))")
        let userAgent = try #require(request.headers["User-Agent"].first)
        #expect(userAgent.wholeMatch(of: /[^\/ ]+\/[^ ]+ headless-client\/0\.0\.0 \([^;]+; [^)]+\)/) != nil, "\(userAgent)")
        #expect(request.headers["X-Authorization"].isEmpty)
        try await Task.sleep(for: .milliseconds(500))
        #expect(silent.connections >= 2)
        channel.close()
        try await silent.close()
        try await group.shutdownGracefully()
    }

    @Test(.timeLimit(.minutes(1)))
    func heartbeatsGoOutAndAreAnswered() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (channel, events) = try connectClient(fixture, group: group)
        try await events.next { $0 == .joined ? () : nil }
        try await Task.sleep(for: .seconds(31))
        let stats = await channel.stats()
        #expect(stats.heartbeatsSent == 1)
        #expect(stats.connectAttempts == 1)
        #expect(!events.all.contains { if case .disconnected = $0 { true } else { false } })
        channel.close()
        try await fixture.stop()
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
        try await events.next { event -> Void? in
            if case .disconnected(.socketClosed, .zero) = event { () } else { nil }
        }
        try await events.next { $0 == .joined ? () : nil }
        channel.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }
}

/// A WebSocket server that accepts every upgrade and never answers: the portal that hangs.
final class SilentWebSocketServer: Sendable {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: any Channel
    private let counters = Counters()

    init() async throws {
        let counters = self.counters
        self.channel = try await ServerBootstrap(group: self.group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    counters.connection()
                    let upgrader = NIOWebSocketServerUpgrader(
                        shouldUpgrade: { channel, head in
                            counters.request(head)
                            return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(FrameCounter(counters: counters))
                            }
                        }
                    )
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var port: Int { self.channel.localAddress?.port ?? 0 }
    var connections: Int { self.counters.value.connections }
    var joinsReceived: Int { self.counters.value.joins }

    func close() async throws {
        try await self.channel.close()
        try await self.group.shutdownGracefully()
    }

    var lastRequest: HTTPRequestHead? { self.counters.lastRequest }

    final class Counters: Sendable {
        private let state = Mutex<(connections: Int, joins: Int)>((0, 0))
        private let head = Mutex<HTTPRequestHead?>(nil)
        func connection() { self.state.withLock { $0.connections += 1 } }
        func request(_ head: HTTPRequestHead) { self.head.withLock { $0 = head } }
        var lastRequest: HTTPRequestHead? { self.head.withLock { $0 } }
        func join() { self.state.withLock { $0.joins += 1 } }
        var value: (connections: Int, joins: Int) { self.state.withLock { $0 } }
    }

    private final class FrameCounter: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        let counters: Counters
        init(counters: Counters) { self.counters = counters }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = self.unwrapInboundIn(data)
            if frame.opcode == .text, String(buffer: frame.unmaskedData).contains("phx_join") {
                self.counters.join()
            }
        }
    }
}
