import ConnlibCore
import FirezoneTime
import IPPacket
import PortalMessages
import Testing

/// The client's rules that need no established connection: resources, routes, TUN input and flow requests.
@Suite struct ClientStateTests {
    static let internetResource = ClientResource.internet(
        InternetResource(
            id: ResourceID("20000000-0000-4000-8000-000000000001"),
            name: nil,
            sites: [ClientHarness.site],
            canBeDisabled: true
        )
    )

    static var cidrID: ResourceID { ClientHarness.cidrResource.id }

    // MARK: Resources and routes

    @Test func theTunRoutesAreTheCIDRResourcesAndTheAddressPlan() throws {
        let harness = ClientHarness()
        let config = try #require(harness.lastTunConfig)
        #expect(config.ipv4 == ClientHarness.clientTunV4)
        #expect(Set(config.routes) == Set(AddressPlan.clientRoutes + [IPNetwork("10.0.0.0/24")!]))
        #expect(config.routes == config.routes.sorted())
    }

    @Test func theInternetResourceAddsDefaultRoutesOnlyWhileActive() throws {
        var harness = ClientHarness(resources: [ClientHarness.cidrResource, Self.internetResource])
        let inactive = try #require(harness.lastTunConfig)
        #expect(!inactive.routes.contains(IPNetwork("0.0.0.0/0")!))
        harness.tunInput(try ClientHarness.udp(to: .v4(IPv4Address(8, 8, 8, 8))))
        #expect(harness.createFlows.isEmpty)
        #expect(harness.client.stats[.unknownResource] == 1)

        harness.client.setInternetResourceActivated(true, now: harness.clock.now)
        harness.deliver()
        let active = try #require(harness.lastTunConfig)
        #expect(active.routes.contains(IPNetwork("0.0.0.0/0")!))
        #expect(active.routes.contains(IPNetwork("::/0")!))
        #expect(harness.lastResourceViews?.last?.isActive == true)
        harness.tunInput(try ClientHarness.udp(to: .v4(IPv4Address(8, 8, 8, 8))))
        #expect(harness.createFlows.map(\.resourceID) == [Self.internetResource.id])
    }

    @Test func anInternetResourceThatCannotBeDisabledIsAlwaysActive() throws {
        let mandatory = ClientResource.internet(
            InternetResource(id: ResourceID("2"), name: nil, sites: [ClientHarness.site], canBeDisabled: false)
        )
        let harness = ClientHarness(resources: [mandatory])
        #expect(harness.lastTunConfig?.routes.contains(IPNetwork("::/0")!) == true)
    }

    @Test func aDeletedResourceLosesItsRouteAndItsBuffer() throws {
        var harness = ClientHarness()
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost()))
        harness.client.handlePortalEvent(.resourceDeleted(Self.cidrID), now: harness.clock.now)
        harness.deliver()
        #expect(harness.client.stats[.flowFailed] == 1)
        #expect(harness.lastTunConfig?.routes.contains(IPNetwork("10.0.0.0/24")!) == false)
        #expect(harness.lastResourceViews == [])
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost()))
        #expect(harness.client.stats[.unknownResource] == 1)
    }

    @Test func initReplacesTheResourceList() throws {
        var harness = ClientHarness(resources: [ClientHarness.cidrResource, Self.internetResource])
        harness.client.handlePortalEvent(
            .initialize(
                ClientInit(
                    interface: ClientInterface(
                        ipv4: ClientHarness.clientTunV4,
                        ipv6: ClientHarness.clientTunV6,
                        upstreamDNS: [],
                        searchDomain: nil
                    ),
                    resources: [Self.internetResource],
                    relays: []
                )
            ),
            now: harness.clock.now
        )
        harness.deliver()
        #expect(harness.lastResourceViews?.map(\.resource.id) == [Self.internetResource.id])
    }

    // MARK: TUN input

    @Test func multicastIsDropped() throws {
        var harness = ClientHarness()
        harness.tunInput(try ClientHarness.udp(to: .v4(IPv4Address(239, 1, 2, 3))))
        harness.tunInput(try ClientHarness.udp(from: .v6(ClientHarness.clientTunV6), to: IPAddress("ff05::2")!))
        #expect(harness.client.stats[.multicast] == 2)
        #expect(harness.createFlows.isEmpty)
    }

    @Test(arguments: ["0.0.0.0", "0.1.2.3", "255.255.255.255", "::"])
    func aPacketToAnAddressNoPacketMayGoToIsDroppedEvenWithTheInternetResource(address: String) throws {
        var harness = ClientHarness(resources: [Self.internetResource], internetResourceActivated: true)
        let source: IPAddress = address.contains(":") ? .v6(ClientHarness.clientTunV6) : .v4(ClientHarness.clientTunV4)
        harness.tunInput(try ClientHarness.udp(from: source, to: IPAddress(address)!, port: 443))
        #expect(harness.client.stats[.notADestination] == 1)
        #expect(harness.createFlows.isEmpty)
        // A public address still takes the Internet resource.
        harness.tunInput(try ClientHarness.udp(to: .v4(IPv4Address(8, 8, 8, 8)), port: 443))
        #expect(harness.createFlows.map(\.resourceID) == [Self.internetResource.id])
    }

    @Test func aPacketNotFromOurTunnelAddressIsDropped() throws {
        var harness = ClientHarness()
        harness.tunInput(try ClientHarness.udp(from: .v4(IPv4Address(192, 168, 1, 9)), to: ClientHarness.lanHost()))
        #expect(harness.client.stats[.notOurAddress] == 1)
        #expect(harness.createFlows.isEmpty)
    }

    @Test func aPacketNoResourceCoversIsDroppedWithoutICMP() throws {
        var harness = ClientHarness()
        harness.tunInput(try ClientHarness.udp(to: .v4(IPv4Address(172, 16, 0, 1))))
        #expect(harness.client.stats[.unknownResource] == 1)
        #expect(harness.tunWrites.isEmpty)
        #expect(harness.createFlows.isEmpty)
    }

    @Test func aPacketForAnUnconnectedResourceAsksForAFlowOncePerTwoSeconds() throws {
        var harness = ClientHarness()
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "1"))
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "2"))
        #expect(harness.createFlows == [CreateFlow(resourceID: Self.cidrID, connectedGatewayIDs: [])])
        harness.run(for: .milliseconds(1999))
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "3"))
        #expect(harness.createFlows.count == 1)
        harness.run(for: .milliseconds(1))
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "4"))
        #expect(harness.createFlows.count == 2)
        #expect(harness.client.stats.flowsRequested == 2)
    }

    @Test func aPacketTheResourcesFiltersDenyGetsICMPProhibitedAndNoFlow() throws {
        let filtered = ClientResource.cidr(
            CIDRResource(
                id: Self.cidrID,
                address: IPNetwork("10.0.0.0/24")!,
                name: "LAN",
                addressDescription: nil,
                sites: [ClientHarness.site],
                filters: [.tcp(ports: 443...443)]
            )
        )
        var harness = ClientHarness(resources: [filtered])
        let denied = try ClientHarness.udp(to: ClientHarness.lanHost(), port: 53)
        harness.tunInput(denied)
        #expect(harness.client.stats[.filtered] == 1)
        #expect(harness.createFlows.isEmpty)
        let icmp = try #require(harness.tunWrites.first)
        #expect(icmp.source == denied.destination && icmp.destination == denied.source)
        #expect(icmp.transportSegment.getInteger(at: icmp.transportSegment.readerIndex, as: UInt8.self) == 3)
        #expect(icmp.transportSegment.getInteger(at: icmp.transportSegment.readerIndex + 1, as: UInt8.self) == 13)
    }

    @Test func theFlowBufferKeepsNoDuplicates() throws {
        var harness = ClientHarness()
        let packet = try ClientHarness.udp(to: ClientHarness.lanHost())
        harness.tunInput(packet)
        harness.tunInput(packet)
        #expect(harness.client.stats[.duplicate] == 1)
    }

    @Test func theFlowBufferHoldsAtMost128PacketsPerResource() throws {
        var harness = ClientHarness()
        for index in 0..<(ClientConstants.flowBufferCapacity + 3) {
            harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "\(index)"))
        }
        #expect(ClientConstants.flowBufferCapacity == 128)
        #expect(harness.client.stats[.flowBufferFull] == 3)
    }

    // MARK: Portal answers

    @Test func flowCreationFailedOfflineDropsTheBufferAndMarksTheSitesOffline() throws {
        var harness = ClientHarness()
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "1"))
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "2"))
        harness.client.handlePortalEvent(
            .flowCreationFailed(FlowCreationFailed(resourceID: Self.cidrID, reason: .offline)),
            now: harness.clock.now
        )
        harness.deliver()
        #expect(harness.client.stats[.flowFailed] == 2)
        #expect(harness.lastResourceViews?.first?.status == .offline)
    }

    @Test(arguments: [FlowFailureReason.notFound, .forbidden])
    func flowCreationFailedDropsTheBufferWithoutMarkingSites(reason: FlowFailureReason) throws {
        var harness = ClientHarness()
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost()))
        harness.client.handlePortalEvent(
            .flowCreationFailed(FlowCreationFailed(resourceID: Self.cidrID, reason: reason)),
            now: harness.clock.now
        )
        harness.deliver()
        #expect(harness.client.stats[.flowFailed] == 1)
        #expect(harness.lastResourceViews?.first?.status == .unknown)
    }

    @Test func flowCreatedWithoutRelaysAsksTheShellToReconnect() throws {
        var harness = ClientHarness()
        harness.client.handlePortalEvent(
            .relaysPresence(RelaysPresence(disconnectedIDs: [ClientHarness.relayID], connected: [])),
            now: harness.clock.now
        )
        harness.deliver()
        harness.tunInput(try ClientHarness.udp(to: ClientHarness.lanHost()))
        harness.events.removeAll()
        try harness.authorize(Self.cidrID)
        #expect(harness.events == [.noRelays])
        #expect(harness.client.node.connectionIDs.isEmpty)
    }

    @Test func aFlowForAnUnknownResourceIsIgnored() throws {
        var harness = ClientHarness()
        harness.client.handlePortalEvent(
            .flowCreated(ClientHarness.flowCreated(for: ResourceID("99999999-0000-4000-8000-000000000001"))),
            now: harness.clock.now
        )
        #expect(harness.client.stats[.unknownPortalReference] == 1)
        #expect(harness.client.node.connectionIDs.isEmpty)
    }

    @Test func createFlowNamesTheLast100ConnectedGatewaysInUUIDOrder() {
        var recent = LRUCache<GatewayID, Void>(capacity: ClientConstants.recentGatewaysCapacity)
        for index in [7, 3, 9] + Array(10..<150) {
            let digits = String(index)
            let padded = String(repeating: "0", count: 8 - digits.count) + digits
            recent.insert((), for: GatewayID(padded + "-0000-4000-8000-000000000000"))
        }
        let named = ClientState.connectedGatewayIDs(recent)
        #expect(named.count == 100)
        #expect(named == named.sorted())
        #expect(named.first == GatewayID("00000050-0000-4000-8000-000000000000"))
    }

    @Test func theRelayListMergesBothFamiliesOfARelay() {
        let v4 = IPSocketAddress(.v4(IPv4Address(198, 51, 100, 1)), port: 3478)
        let v6 = IPSocketAddress(IPAddress("2001:db8::1")!, port: 3478)
        let entries: [RelayEntry] = [
            .turn(TurnRelay(id: RelayID("r1"), address: v4, username: "u", password: "p", expiresAt: 1)),
            .stun(id: RelayID("r2"), address: v4),
            .turn(TurnRelay(id: RelayID("r1"), address: v6, username: "u", password: "p", expiresAt: 1)),
        ]
        let servers = PortalRelays.turnServers(from: entries)
        #expect(servers.map(\.id) == [RelayID("r1")])
        #expect(servers.first?.socket == .dual(v4: v4, v6: v6))
        #expect(servers.first?.realm == "firezone")
    }

    /// A shell polls the queues only when this says there is something: it must hold while any queue has output, and
    /// while a shutdown waits for `pollTransmit` to report it done.
    @Test func pendingOutputHoldsUntilEveryQueueIsDrained() throws {
        var harness = ClientHarness()
        #expect(!harness.client.hasPendingOutput)
        // No flow yet: the packet waits and `create_flow` is queued for the portal.
        harness.client.handleTunInput(try ClientHarness.udp(to: ClientHarness.lanHost()), now: harness.clock.now)
        #expect(harness.client.hasPendingOutput)
        harness.deliver()
        #expect(!harness.client.hasPendingOutput)
        #expect(harness.createFlows.count == 1)
        harness.client.shutDown(now: harness.clock.now)
        #expect(harness.client.hasPendingOutput)
        harness.deliver()
        #expect(harness.client.isShutDown)
        #expect(!harness.client.hasPendingOutput)
    }
}
