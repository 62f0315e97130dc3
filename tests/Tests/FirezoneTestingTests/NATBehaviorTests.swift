import FirezoneTesting
import FirezoneTime
import IPPacket
import Testing

/// The mapping and filtering behaviours of RFC 4787 §4.1 and §5 and the mapping timeout of §4.3, observed from
/// outside as a STUN server would: by the source address a public host sees.
struct NATBehaviorTests {
    /// One internal host behind the NAT and two public servers; `second` has two sockets on one address.
    final class Setup {
        var simulation = Simulation(seed: 1)
        let family: IPVersion
        let client: IPSocketAddress
        let firstServer: IPSocketAddress
        let firstServerOtherPort: IPSocketAddress
        let secondServer: IPSocketAddress
        let publicAddress: IPAddress

        init(_ nat: NATConfiguration, family: IPVersion = .v4) {
            self.family = family
            if family == .v4 {
                self.client = socket("10.0.0.2:5000")
                self.firstServer = socket("203.0.113.10:3478")
                self.firstServerOtherPort = socket("203.0.113.10:3479")
                self.secondServer = socket("203.0.113.20:3478")
                self.publicAddress = address("198.51.100.1")
            } else {
                self.client = socket("[fd00::2]:5000")
                self.firstServer = socket("[2001:db8:10::1]:3478")
                self.firstServerOtherPort = socket("[2001:db8:10::1]:3479")
                self.secondServer = socket("[2001:db8:20::1]:3478")
                self.publicAddress = address("2001:db8:ff::1")
            }
            self.simulation.addRouter("nat", publicAddresses: [self.publicAddress], nat: nat)
            self.simulation.addHost("client", addresses: [self.client.address], behind: "nat", node: RecordingNode())
            self.simulation.addHost("first", addresses: [self.firstServer.address], node: RecordingNode())
            self.simulation.addHost("second", addresses: [self.secondServer.address], node: RecordingNode())
        }

        /// Sends from the client to `server` and returns the source the server saw.
        func mappedSource(towards server: IPSocketAddress) throws -> IPSocketAddress {
            let host = server.address == self.firstServer.address ? "first" : "second"
            let before = self.simulation.node(host, as: RecordingNode.self).arrivals.count
            self.simulation.withNode("client", as: RecordingNode.self) { node, _ in
                node.send("binding request", from: self.client, to: server)
            }
            self.simulation.advance(for: .seconds(1))
            let arrivals = self.simulation.node(host, as: RecordingNode.self).arrivals
            try #require(arrivals.count == before + 1, Comment(rawValue: self.simulation.report()))
            return arrivals[before].source
        }

        /// Sends from `server` to `destination` and returns whether the client got it.
        func reachesClient(from server: IPSocketAddress, to destination: IPSocketAddress) -> Bool {
            let host = server.address == self.firstServer.address ? "first" : "second"
            let before = self.simulation.node("client", as: RecordingNode.self).arrivals.count
            self.simulation.withNode(host, as: RecordingNode.self) { node, _ in
                node.send("inbound", from: server, to: destination)
            }
            self.simulation.advance(for: .seconds(1))
            return self.simulation.node("client", as: RecordingNode.self).arrivals.count == before + 1
        }

        var lastEvent: TraceEntry.Event? {
            self.simulation.trace.last?.event
        }
    }

    static let families: [IPVersion] = [.v4, .v6]

    @Test(arguments: families)
    func endpointIndependentMappingReusesTheExternalSocketForEveryDestination(family: IPVersion) throws {
        let setup = Setup(.fullCone, family: family)
        let first = try setup.mappedSource(towards: setup.firstServer)
        #expect(first.address == setup.publicAddress)
        #expect(try setup.mappedSource(towards: setup.firstServerOtherPort) == first)
        #expect(try setup.mappedSource(towards: setup.secondServer) == first)
    }

    @Test(arguments: families)
    func addressDependentMappingReusesTheExternalSocketPerDestinationAddress(family: IPVersion) throws {
        let setup = Setup(NATConfiguration(mapping: .addressDependent, filtering: .addressDependent), family: family)
        let first = try setup.mappedSource(towards: setup.firstServer)
        #expect(try setup.mappedSource(towards: setup.firstServerOtherPort) == first)
        #expect(try setup.mappedSource(towards: setup.secondServer) != first)
    }

    @Test(arguments: families)
    func addressAndPortDependentMappingUsesAnExternalSocketPerDestinationSocket(family: IPVersion) throws {
        let setup = Setup(.symmetric, family: family)
        let first = try setup.mappedSource(towards: setup.firstServer)
        let otherPort = try setup.mappedSource(towards: setup.firstServerOtherPort)
        let second = try setup.mappedSource(towards: setup.secondServer)
        #expect(Set([first, otherPort, second]).count == 3)
        #expect(try setup.mappedSource(towards: setup.firstServer) == first, "a live mapping is reused")
    }

    @Test func endpointIndependentFilteringLetsAnyRemoteIn() throws {
        let setup = Setup(.fullCone)
        let mapped = try setup.mappedSource(towards: setup.firstServer)
        #expect(setup.reachesClient(from: setup.firstServerOtherPort, to: mapped))
        #expect(setup.reachesClient(from: setup.secondServer, to: mapped))
    }

    @Test func addressDependentFilteringLetsInOnlyContactedAddresses() throws {
        let setup = Setup(NATConfiguration(mapping: .endpointIndependent, filtering: .addressDependent))
        let mapped = try setup.mappedSource(towards: setup.firstServer)
        #expect(setup.reachesClient(from: setup.firstServerOtherPort, to: mapped))
        #expect(!setup.reachesClient(from: setup.secondServer, to: mapped))
        #expect(setup.lastEvent == .filtered(router: "nat"))
    }

    @Test func addressAndPortDependentFilteringLetsInOnlyContactedSockets() throws {
        let setup = Setup(.portRestrictedCone)
        let mapped = try setup.mappedSource(towards: setup.firstServer)
        #expect(setup.reachesClient(from: setup.firstServer, to: mapped))
        #expect(!setup.reachesClient(from: setup.firstServerOtherPort, to: mapped))
        #expect(setup.lastEvent == .filtered(router: "nat"))
        #expect(!setup.reachesClient(from: setup.secondServer, to: mapped))
    }

    @Test func aDatagramWithoutAMappingIsDropped() {
        let setup = Setup(.fullCone)
        #expect(!setup.reachesClient(from: setup.firstServer, to: IPSocketAddress(setup.publicAddress, port: 40000)))
        #expect(setup.lastEvent == .noMapping(router: "nat"))
    }

    @Test func aMappingExpiresAfterItsTimeoutWithoutOutboundTraffic() throws {
        let setup = Setup(
            NATConfiguration(
                mapping: .endpointIndependent,
                filtering: .endpointIndependent,
                mappingTimeout: .seconds(30)
            )
        )
        let mapped = try setup.mappedSource(towards: setup.firstServer)
        setup.simulation.elapse(.seconds(20))
        #expect(setup.reachesClient(from: setup.firstServer, to: mapped), "alive 20 s after the last outbound datagram")
        setup.simulation.elapse(.seconds(11))
        #expect(
            !setup.reachesClient(from: setup.firstServer, to: mapped),
            "gone 31 s after it: inbound datagrams do not refresh"
        )
        #expect(setup.lastEvent == .noMapping(router: "nat"))
        let fresh = try setup.mappedSource(towards: setup.firstServer)
        #expect(fresh != mapped, "a new mapping takes the next port")
    }

    @Test func outboundTrafficRefreshesAMapping() throws {
        let setup = Setup(
            NATConfiguration(
                mapping: .endpointIndependent,
                filtering: .endpointIndependent,
                mappingTimeout: .seconds(30)
            )
        )
        let mapped = try setup.mappedSource(towards: setup.firstServer)
        setup.simulation.elapse(.seconds(20))
        #expect(try setup.mappedSource(towards: setup.firstServer) == mapped)
        setup.simulation.elapse(.seconds(20))
        #expect(setup.reachesClient(from: setup.firstServer, to: mapped), "41 s after creation, 21 s after the refresh")
    }

    @Test func inboundRefreshKeepsAMappingAliveWhenConfigured() throws {
        let setup = Setup(
            NATConfiguration(
                mapping: .endpointIndependent,
                filtering: .endpointIndependent,
                mappingTimeout: .seconds(30),
                inboundRefresh: true
            )
        )
        let mapped = try setup.mappedSource(towards: setup.firstServer)
        setup.simulation.elapse(.seconds(20))
        #expect(setup.reachesClient(from: setup.firstServer, to: mapped))
        setup.simulation.elapse(.seconds(20))
        #expect(setup.reachesClient(from: setup.firstServer, to: mapped), "the inbound datagram at 21 s refreshed it")
    }

    @Test func aDatagramToTheOwnRoutersPublicAddressIsUnroutable() throws {
        let setup = Setup(.fullCone)
        let mapped = try setup.mappedSource(towards: setup.firstServer)
        setup.simulation.withNode("client", as: RecordingNode.self) { node, _ in
            node.send("hairpin", from: setup.client, to: mapped)
        }
        setup.simulation.advance(for: .seconds(1))
        #expect(setup.lastEvent == .unroutable)
    }

    @Test func hostsBehindOneRouterReachEachOtherWithoutTranslation() {
        var simulation = Simulation(seed: 1)
        simulation.addRouter("nat", publicAddresses: [address("198.51.100.1")], nat: .symmetric)
        simulation.addHost("a", addresses: [address("10.0.0.2")], behind: "nat", node: RecordingNode())
        simulation.addHost("b", addresses: [address("10.0.0.3")], behind: "nat", node: RecordingNode())
        simulation.withNode("a", as: RecordingNode.self) { node, _ in
            node.send("lan", from: socket("10.0.0.2:1"), to: socket("10.0.0.3:2"))
        }
        simulation.advance()
        #expect(simulation.node("b", as: RecordingNode.self).arrivals.map(\.source) == [socket("10.0.0.2:1")])
    }
}
