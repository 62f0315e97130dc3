import Connlib
import FirezoneTime
import Logging
import NIOPosix
import PhoenixChannel
import PhoenixCore
import PortalMessages
import PortalTestSupport
import Testing

struct PortalBridgeTests {
    private static func withBridge(
        capacity: Int,
        _ body: (PortalBridge<GatewayTopic>) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let url = try PortalURL(
            apiURL: "ws://127.0.0.1:9",
            topic: GatewayTopic.name,
            token: "token",
            parameters: .gateway(id: "id", name: "test", publicKey: "key")
        )
        let bridge = try PortalBridge<GatewayTopic>(
            configuration: .init(url: url, joinPayload: EmptyPayload(), partitionTime: nil, userAgent: "test"),
            group: group,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            capacity: capacity
        )
        do {
            try await body(bridge)
        } catch {
            try await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private static func drained(_ bridge: PortalBridge<GatewayTopic>) -> [PhoenixEvent<GatewayInbound>] {
        var events: [PhoenixEvent<GatewayInbound>] = []
        bridge.drain { events.append($0) }
        return events
    }

    @Test func eventsReachTheDataPlaneInOrder() async throws {
        try await Self.withBridge(capacity: 8) { bridge in
            await bridge.deliver(.joined)
            await bridge.deliver(.unknownEvent("a"))
            await bridge.deliver(.unknownEvent("b"))
            #expect(Self.drained(bridge) == [.joined, .unknownEvent("a"), .unknownEvent("b")])
            #expect(Self.drained(bridge).isEmpty)
        }
    }

    /// A full queue holds the portal side back instead of dropping an event or growing.
    @Test func theInboundQueueIsBoundedAndAFullQueueMakesThePortalWait() async throws {
        try await Self.withBridge(capacity: 2) { bridge in
            await bridge.deliver(.unknownEvent("1"))
            await bridge.deliver(.unknownEvent("2"))
            let third = Task { await bridge.deliver(.unknownEvent("3")) }
            // Wait (bounded) until the third delivery has found the queue full.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(5)
            while bridge.stats.inboundFullWaits == 0 && clock.now < deadline {
                await Task.yield()
            }
            #expect(bridge.stats.inboundFullWaits > 0)
            #expect(bridge.stats.inboundDepth == 2)
            #expect(Self.drained(bridge) == [.unknownEvent("1"), .unknownEvent("2")])
            #expect(await third.value)
            #expect(Self.drained(bridge) == [.unknownEvent("3")])
        }
    }

    @Test func readinessFollowsJoinedAndDisconnected() async throws {
        try await Self.withBridge(capacity: 8) { bridge in
            #expect(!bridge.isJoined)
            await bridge.deliver(.joined)
            #expect(bridge.isJoined)
            await bridge.deliver(.disconnected(.heartbeatTimedOut, retryIn: .seconds(1)))
            #expect(!bridge.isJoined)
        }
    }

    @Test func messagesSentBeforeTheChannelExistsKeepTheNewestAndCountTheDropped() async throws {
        try await Self.withBridge(capacity: 8) { bridge in
            let message = GatewayOutbound.broadcastIceCandidates(ClientsIceCandidates(clientIDs: [], candidates: []))
            for _ in 0..<(PhoenixConstants.outboundQueueCapacity + 3) {
                bridge.send(message)
            }
            #expect(bridge.stats.outboundDropped == 3)
        }
    }

    @Test func aClosedBridgeRefusesEvents() async throws {
        try await Self.withBridge(capacity: 1) { bridge in
            bridge.closeInbound()
            #expect(await !bridge.deliver(.joined))
            #expect(Self.drained(bridge).isEmpty)
        }
    }
}

/// The bridge against the local portal in this process.
struct PortalBridgeReconnectTests {
    /// Waits (at most ten seconds) until `count` `init` events reached the data plane.
    private static func waitForInits(
        _ count: Int,
        bridge: PortalBridge<GatewayTopic>,
        seen: inout Int
    ) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while seen < count && clock.now < deadline {
            bridge.drain { event in
                if case .message(.initialize) = event {
                    seen += 1
                }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func reconnectOpensANewConnectionWhoseJoinBringsAFreshInit() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let url = try PortalURL(
            apiURL: fixture.apiURL,
            topic: GatewayTopic.name,
            token: "gw-1-token",
            parameters: .gateway(id: "ext", name: "gw", publicKey: TestWorld.key(2).base64)
        )
        let bridge = try PortalBridge<GatewayTopic>(
            configuration: .init(url: url, joinPayload: EmptyPayload(), partitionTime: nil, userAgent: "test"),
            group: group,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let running = Task { try await bridge.run() }
        var inits = 0
        try await Self.waitForInits(1, bridge: bridge, seen: &inits)
        #expect(inits == 1)
        bridge.reconnect()
        try await Self.waitForInits(2, bridge: bridge, seen: &inits)
        #expect(inits == 2)
        running.cancel()
        do {
            try await running.value
        } catch is CancellationError {
            // The run ends with its task.
        }
        try await group.shutdownGracefully()
        try await fixture.stop()
    }
}

/// A client's bridge against the local portal in this process, with a scripted gateway.
@Suite(.timeLimit(.minutes(1)))
struct PortalBridgeKeyRotationTests {
    /// The client's reset makes a new key: the bridge signs in again with it, a message sent at once waits for the
    /// new connection, and the flow it asks for reaches the gateway with the new key.
    @Test func reconnectWithANewKeySignsInWithItAndTheNextFlowCarriesIt() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (gateway, gatewayEvents) = try connectGateway(fixture, group: group)
        _ = try await gatewayEvents.next { $0.message.flatMap { if case .initialize = $0 { () } else { nil } } }
        let url = try PortalURL(
            apiURL: fixture.apiURL,
            topic: ClientTopic.name,
            token: "client-1-token",
            parameters: .client(id: "ext", name: "laptop", publicKey: TestWorld.key(1).base64)
        )
        let bridge = try PortalBridge<ClientTopic>(
            configuration: .init(
                url: url,
                joinPayload: EmptyPayload(),
                partitionTime: nil,
                userAgent: UserAgent.make(component: "headless-client", version: "1.5.3")
            ),
            group: group,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let running = Task { try await bridge.run() }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while !bridge.isJoined && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(bridge.isJoined)

        bridge.reconnect(publicKey: TestWorld.key(9))
        bridge.send(.createFlow(CreateFlow(resourceID: TestWorld.lan, connectedGatewayIDs: [])))
        let authorize = try await gatewayEvents.next {
            $0.message.flatMap { if case .authorizeFlow(let flow) = $0 { flow } else { nil } }
        }
        #expect(authorize.client.publicKey == TestWorld.key(9))
        #expect(
            bridge.configuration.url.parameters
                == .client(id: "ext", name: "laptop", publicKey: TestWorld.key(9).base64)
        )

        gateway.close()
        running.cancel()
        do {
            try await running.value
        } catch is CancellationError {
            // The run ends with its task.
        }
        try await group.shutdownGracefully()
        try await fixture.stop()
    }
}
