import ConnlibCore
import FirezoneCrypto
import IPPacket
import NIOCore
import PortalMessages
import Testing
import WireGuard

/// The client's cached routing decisions (the last packet's gateway, the last allowed source) hold only while
/// nothing they were made of changes: every test first sends a packet each way through an established flow, so that
/// both decisions are cached, then changes one input and checks that the next packet of the same flow is decided
/// anew.
@Suite struct ClientRouteCacheTests {
    static var cidrID: ResourceID { ClientHarness.cidrResource.id }

    /// An established flow whose last packet each way was decided and cached.
    static func flowing() throws -> ClientHarness {
        var harness = try ClientStateConnectionTests.established()
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "cached"))
        try harness.gatewaySends(
            try ClientHarness.udp(from: ClientHarness.lanHost(), to: .v4(ClientHarness.clientTunV4), payload: "reply")
        )
        try #require(harness.gatewayPayloads == ["first", "cached"])
        try #require(harness.clientReceived.count == 1)
        return harness
    }

    static func sendAgain(_ harness: inout ClientHarness, payload: String = "again") throws {
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: payload))
    }

    @Test func aCachedRouteDoesNotOutliveItsResource() throws {
        var harness = try Self.flowing()
        harness.client.handlePortalEvent(.resourceDeleted(Self.cidrID), now: harness.clock.now)
        try Self.sendAgain(&harness)
        #expect(harness.gatewayPayloads == ["first", "cached"])
        #expect(harness.client.stats[.unknownResource] == 1)
    }

    @Test func aCachedRouteFollowsTheResourcesNewFilters() throws {
        var harness = try Self.flowing()
        guard case .cidr(var cidr) = ClientHarness.cidrResource else {
            Issue.record("the harness's resource is a CIDR resource")
            return
        }
        cidr.filters = [.tcp(ports: nil)]
        harness.client.handlePortalEvent(.resourceCreatedOrUpdated(.cidr(cidr)), now: harness.clock.now)
        try Self.sendAgain(&harness)
        #expect(harness.gatewayPayloads == ["first", "cached"])
        #expect(harness.client.stats[.filtered] == 1)
    }

    @Test func aCachedRouteDoesNotOutliveTheGatewaysGoodbye() throws {
        var harness = try Self.flowing()
        harness.run(for: .seconds(2))
        try harness.gatewaySends(try P2PControlMessage.goodbye.makePacket())
        try Self.sendAgain(&harness)
        #expect(harness.createFlows.count == 2)
        #expect(harness.gatewayPayloads == ["first", "cached"])
    }

    @Test func aCachedRouteDoesNotOutliveAReset() throws {
        var harness = try Self.flowing()
        harness.client.reset(secret: StaticSecret(Bytes32((0..<32).map { UInt8(7 + $0) })!), now: harness.clock.now)
        harness.deliver()
        try Self.sendAgain(&harness)
        #expect(harness.createFlows.count == 2)
        #expect(harness.client.stats[.flowFailed] == 0)
        #expect(harness.gatewayPayloads == ["first", "cached"])
    }

    /// The portal moves the resource's flow to another gateway: the next packet waits for that gateway's
    /// connection rather than going to the one the cache names.
    @Test func aCachedRouteFollowsTheFlowToAnotherGateway() throws {
        var harness = try Self.flowing()
        var moved = ClientHarness.flowCreated(for: Self.cidrID)
        moved.gatewayID = GatewayID("a0000000-0000-4000-8000-000000000002")
        moved.gatewayPublicKey = StaticSecret(Bytes32((0..<32).map { UInt8(50 + $0) })!).publicKey
        harness.client.handlePortalEvent(.flowCreated(moved), now: harness.clock.now)
        try Self.sendAgain(&harness)
        #expect(harness.gatewayPayloads == ["first", "cached"])
    }

    @Test func aCachedSourceDoesNotOutliveItsResource() throws {
        var harness = try Self.flowing()
        harness.client.handlePortalEvent(.resourceDeleted(Self.cidrID), now: harness.clock.now)
        try harness.gatewaySends(
            try ClientHarness.udp(from: ClientHarness.lanHost(), to: .v4(ClientHarness.clientTunV4), payload: "late")
        )
        #expect(harness.clientReceived.count == 1)
        #expect(harness.client.stats[.spoofedSource] == 1)
    }

    /// The same flow's packets after the first go the cached way and still arrive, each way.
    @Test func aFlowsLaterPacketsTakeTheCachedDecisions() throws {
        var harness = try Self.flowing()
        for payload in ["2", "3"] {
            try Self.sendAgain(&harness, payload: payload)
            try harness.gatewaySends(
                try ClientHarness.udp(
                    from: ClientHarness.lanHost(),
                    to: .v4(ClientHarness.clientTunV4),
                    payload: payload
                )
            )
        }
        #expect(harness.gatewayPayloads == ["first", "cached", "2", "3"])
        #expect(harness.clientReceived.map { String(buffer: $0.payload) } == ["reply", "2", "3"])
    }
}
