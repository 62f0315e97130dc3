import ConnlibCore
import FirezoneCrypto
import FirezoneTime
import IPPacket
import NIOCore
import PortalMessages
import Testing
import WireGuard

/// The client's rules around a connection to a gateway, with the gateway's snownet node driven by the test.
@Suite struct ClientStateConnectionTests {
    static var cidrID: ResourceID { ClientHarness.cidrResource.id }

    /// A client with an established connection that carried packet "first" to the gateway.
    static func established() throws -> ClientHarness {
        var harness = ClientHarness()
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "first"))
        try harness.authorize(Self.cidrID)
        harness.run(for: .seconds(3))
        try #require(harness.client.node.isEstablished(ClientHarness.gatewayID))
        try #require(harness.gatewayPayloads == ["first"])
        return harness
    }

    @Test func bufferedPacketsReachTheGatewayInOrderOnceTheConnectionIsEstablished() throws {
        var harness = ClientHarness()
        for payload in ["1", "2"] {
            harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: payload))
        }
        try harness.authorize(Self.cidrID)
        // A packet that arrives while the connection is set up waits behind the earlier ones.
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "3"))
        #expect(harness.gatewayReceived.isEmpty)
        harness.run(for: .seconds(3))
        #expect(harness.client.node.isEstablished(ClientHarness.gatewayID))
        #expect(harness.gatewayPayloads == ["1", "2", "3"])
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "4"))
        #expect(harness.gatewayPayloads == ["1", "2", "3", "4"])
        #expect(harness.createFlows.count == 1)
    }

    @Test func anEstablishedConnectionMarksItsSiteOnline() throws {
        let harness = try Self.established()
        #expect(harness.lastResourceViews?.first?.status == .online)
    }

    @Test func localCandidatesGoToThePortalForTheirGateway() throws {
        let harness = try Self.established()
        let batches = harness.candidateMessages.compactMap {
            if case .broadcastIceCandidates(let batch) = $0 { batch } else { nil }
        }
        #expect(!batches.isEmpty)
        #expect(batches.allSatisfy { $0.gatewayIDs == [ClientHarness.gatewayID] && !$0.candidates.isEmpty })
    }

    @Test func createFlowNamesTheRecentlyConnectedGateways() throws {
        let other = ClientResource.cidr(
            CIDRResource(
                id: ResourceID("10000000-0000-4000-8000-000000000002"),
                address: IPNetwork("10.0.1.0/24")!,
                name: "Other",
                addressDescription: nil,
                sites: [ClientHarness.site]
            )
        )
        var harness = try Self.established()
        harness.client.handlePortalEvent(.resourceCreatedOrUpdated(other), now: harness.clock.now)
        harness.tunInput(try ClientHarness.udp(to: .v4(IPv4Address(10, 0, 1, 1))))
        #expect(
            harness.createFlows.last
                == CreateFlow(resourceID: other.id, connectedGatewayIDs: [ClientHarness.gatewayID])
        )
    }

    @Test func aResourceWithTheSamePrefixAsOneWithAFlowDoesNotAskForAnother() throws {
        var harness = try Self.established()
        let twin = ClientResource.cidr(
            CIDRResource(
                id: ResourceID("00000000-0000-4000-8000-000000000001"),
                address: IPNetwork("10.0.0.0/24")!,
                name: "Twin",
                addressDescription: nil,
                sites: [ClientHarness.site]
            )
        )
        harness.client.handlePortalEvent(.resourceCreatedOrUpdated(twin), now: harness.clock.now)
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "second"))
        #expect(harness.createFlows.count == 1)
        #expect(harness.gatewayPayloads == ["first", "second"])
    }

    @Test func aPacketFromTheGatewayMustComeFromItOrFromItsResources() throws {
        var harness = try Self.established()
        let client = IPAddress.v4(ClientHarness.clientTunV4)
        try harness.gatewaySends(try ClientHarness.udp(from: ClientHarness.lanHost(), to: client, payload: "lan"))
        try harness.gatewaySends(
            try ClientHarness.udp(from: .v4(ClientHarness.gatewayTunV4), to: client, payload: "gateway")
        )
        try harness.gatewaySends(
            try ClientHarness.udp(from: .v4(IPv4Address(172, 16, 0, 1)), to: client, payload: "spoofed")
        )
        #expect(harness.clientReceived.map { String(buffer: $0.payload) } == ["lan", "gateway"])
        #expect(harness.client.stats[.spoofedSource] == 1)
    }

    @Test func aGoodbyeFromTheGatewayForgetsTheFlowAndTheNextPacketAsksAgain() throws {
        var harness = try Self.established()
        harness.run(for: .seconds(2))
        try harness.gatewaySends(try P2PControlMessage.goodbye.makePacket())
        #expect(harness.client.node.connectionIDs.isEmpty)
        #expect(harness.clientReceived.isEmpty)
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "again"))
        #expect(harness.createFlows.count == 2)
        #expect(harness.gatewayPayloads == ["first"])
    }

    @Test func aProhibitedICMPFromTheGatewayAsksForANewFlow() throws {
        var harness = try Self.established()
        harness.run(for: .seconds(2))
        let refused = try #require(harness.gatewayReceived.first)
        let prohibited = IPPacket.makeICMPDestinationUnreachable(for: refused, reason: .administrativelyProhibited)
        try harness.gatewaySends(prohibited)
        #expect(harness.clientReceived == [prohibited])
        #expect(harness.createFlows.map(\.resourceID) == [Self.cidrID, Self.cidrID])
        // The resource waits for its new flow: the next packet is kept, not sent.
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "held"))
        #expect(harness.gatewayPayloads == ["first"])
    }

    @Test func aFlowProhibitedRightAfterItWasCreatedAsksForANewOneAtOnce() throws {
        var harness = ClientHarness()
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "first"))
        try harness.authorize(Self.cidrID)
        harness.run(for: .milliseconds(500))
        try #require(harness.gatewayPayloads == ["first"])
        let refused = try #require(harness.gatewayReceived.first)
        try harness.gatewaySends(
            IPPacket.makeICMPDestinationUnreachable(for: refused, reason: .administrativelyProhibited)
        )
        #expect(harness.createFlows.map(\.resourceID) == [Self.cidrID, Self.cidrID])
        // The packet that waits for the new flow leaves once the portal answers.
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "held"))
        try harness.authorize(Self.cidrID)
        harness.run(for: .milliseconds(500))
        #expect(harness.gatewayPayloads == ["first", "held"])
    }

    @Test func anICMPErrorOtherThanProhibitedKeepsTheFlow() throws {
        var harness = try Self.established()
        harness.run(for: .seconds(2))
        let refused = try #require(harness.gatewayReceived.first)
        try harness.gatewaySends(IPPacket.makeICMPDestinationUnreachable(for: refused, reason: .networkUnreachable))
        #expect(harness.createFlows.count == 1)
    }

    @Test func aFailedConnectionForgetsTheFlow() throws {
        var harness = try Self.established()
        harness.gateway.removeConnection(ClientHarness.clientID, now: harness.clock.now)
        harness.run(for: .seconds(30))
        #expect(harness.client.node.connectionIDs.isEmpty)
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "again"))
        #expect(harness.createFlows.count == 2)
    }

    @Test func resetClosesEveryConnectionAndTheNextPacketAsksAtOnce() throws {
        var harness = try Self.established()
        // A flow request just went out: the next one would wait two seconds, were it not for the reset.
        harness.run(for: .seconds(2))
        let refused = try #require(harness.gatewayReceived.first)
        try harness.gatewaySends(
            IPPacket.makeICMPDestinationUnreachable(for: refused, reason: .administrativelyProhibited)
        )
        try #require(harness.createFlows.count == 2)
        let before = harness.client.publicKey
        harness.client.reset(secret: StaticSecret(Bytes32((0..<32).map { UInt8(7 + $0) })!), now: harness.clock.now)
        harness.deliver()
        #expect(harness.client.publicKey != before)
        #expect(harness.client.node.connectionIDs.isEmpty)
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "again"))
        #expect(harness.createFlows.count == 3)
    }

    @Test func shutdownSaysGoodbyeToEveryGatewayAndReportsWhenDone() throws {
        var harness = try Self.established()
        #expect(!harness.client.isShutDown)
        harness.client.shutDown(now: harness.clock.now)
        #expect(!harness.client.isShutDown)
        harness.deliver()
        #expect(harness.client.isShutDown)
        let last = try #require(harness.gatewayReceived.last)
        #expect(try P2PControlMessage(parsing: last) == .goodbye)
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "late"))
        #expect(harness.client.stats[.shuttingDown] == 1)
    }
}
