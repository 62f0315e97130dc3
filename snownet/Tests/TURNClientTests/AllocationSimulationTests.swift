import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import SimulatedRelay
import TURNClient
import Testing

/// ``Allocation`` against our real ``RelayServer`` in the simulated network.
struct AllocationSimulationTests {
    static let relayIPv4 = IPAddress("203.0.113.1")!
    static let relayIPv6 = IPAddress("2001:db8::1")!
    static let relaySocket = RelaySocket.v4(IPSocketAddress(relayIPv4, port: RelayNode.listeningPort))
    static let local = IPSocketAddress("10.0.0.2:5000")!
    static let clients = ["alice", "bob"]

    /// A relay on the public internet and each of `clients` behind its own NAT with `nat` behaviour and `link`.
    static func setUp(
        seed: UInt64,
        clients: [String] = Self.clients,
        nat: NATConfiguration = .portRestrictedCone,
        link: LinkConditions = LinkConditions(latency: .milliseconds(15), jitter: .milliseconds(5))
    ) -> Simulation {
        var simulation = Simulation(seed: seed)
        let relay = RelayNode(
            addresses: [Self.relayIPv4, Self.relayIPv6],
            seed: simulation.rng.next(),
            clock: simulation.clock,
            logger: ScriptedServer.silent
        )
        simulation.addHost("relay", addresses: relay.addresses, node: relay)
        for (index, name) in clients.enumerated() {
            let publicAddress = IPAddress.v4(IPv4Address(198, 51, 100, UInt8(index + 1)))
            simulation.addRouter("\(name)-nat", publicAddresses: [publicAddress], nat: nat)
            let credentials = RelayNode.credentials(clock: simulation.clock, salt: name)
            let node = TURNClientNode(
                local: Self.local,
                server: Self.relaySocket,
                username: credentials.username,
                password: credentials.password,
                seed: simulation.rng.next(),
                now: simulation.now
            )
            simulation.addHost(name, addresses: [Self.local.address], behind: "\(name)-nat", link: link, node: node)
        }
        return simulation
    }

    static func client(_ simulation: Simulation, _ name: String) -> TURNClientNode {
        simulation.node(name, as: TURNClientNode.self)
    }

    static func allocated(_ simulation: Simulation, _ names: [String] = Self.clients) -> Bool {
        names.allSatisfy { !Self.client(simulation, $0).allocation.relayedAddresses.isEmpty }
    }

    /// The relayed IPv4 address of `name`.
    static func relayed(_ simulation: Simulation, _ name: String) throws -> IPSocketAddress {
        try #require(Self.client(simulation, name).allocation.relayedAddresses.first { $0.address.version == .v4 })
    }

    /// Allocates for both clients and binds each one's channel to the other's relayed address.
    static func connect(_ simulation: inout Simulation, seed: UInt64) throws {
        try #require(
            simulation.advance(for: .seconds(20)) { Self.allocated($0) },
            "both allocated; \(TestSeeds.replayHint(seed)); \(simulation.report())"
        )
        let alice = try Self.relayed(simulation, "alice")
        let bob = try Self.relayed(simulation, "bob")
        simulation.withNode("alice", as: TURNClientNode.self) { $0.bindChannel(to: bob, now: $1) }
        simulation.withNode("bob", as: TURNClientNode.self) { $0.bindChannel(to: alice, now: $1) }
        try #require(
            simulation.advance(for: .seconds(20)) { $0.node("relay", as: RelayNode.self).server.stats.channels == 2 },
            "both channels bound; \(TestSeeds.replayHint(seed)); \(simulation.report())"
        )
    }

    /// `count` payloads each way, then time for them to arrive; how many each side received from the other.
    static func exchange(_ simulation: inout Simulation, count: Int) throws -> (alice: Int, bob: Int) {
        let alice = try Self.relayed(simulation, "alice")
        let bob = try Self.relayed(simulation, "bob")
        let before = (
            Self.client(simulation, "alice").received(from: bob), Self.client(simulation, "bob").received(from: alice)
        )
        for index in 0..<count {
            simulation.withNode("alice", as: TURNClientNode.self) {
                $0.send(ByteBuffer(string: "a\(index)"), to: bob, now: $1)
            }
            simulation.withNode("bob", as: TURNClientNode.self) {
                $0.send(ByteBuffer(string: "b\(index)"), to: alice, now: $1)
            }
            simulation.elapse(.milliseconds(10))
        }
        simulation.elapse(.seconds(1))
        return (
            Self.client(simulation, "alice").received(from: bob) - before.0,
            Self.client(simulation, "bob").received(from: alice) - before.1
        )
    }

    @Test func anAllocationThroughANATLearnsTheNATsPublicAddress() throws {
        var simulation = Self.setUp(seed: 1, clients: ["alice"])
        try #require(simulation.advance(for: .seconds(5)) { Self.allocated($0, ["alice"]) }, "\(simulation.report())")
        let alice = Self.client(simulation, "alice")
        #expect(alice.allocation.hostAddresses == [Self.local])
        #expect(alice.allocation.serverReflexiveAddresses == [IPSocketAddress("198.51.100.1:40000")!])
        #expect(alice.allocation.relayedAddresses.map(\.address) == [Self.relayIPv4, Self.relayIPv6])
        #expect(alice.allocation.activeSocket == Self.relaySocket.addresses[0])
        #expect(
            alice.events == [
                .newAddress(.host, Self.local), .newAddress(.serverReflexive, IPSocketAddress("198.51.100.1:40000")!),
            ] + alice.allocation.relayedAddresses.map { .newAddress(.relayed, $0) }
        )
        #expect(alice.allocation.smoothedRTT != nil)
        #expect(alice.dropped == 0)
    }

    /// The main scenario: two clients behind NATs exchange data both ways through their channels on one relay.
    @Test(arguments: TestSeeds.seeds(count: 100))
    func twoClientsRelayDataToEachOtherThroughChannels(seed: UInt64) throws {
        var simulation = Self.setUp(seed: seed)
        try Self.connect(&simulation, seed: seed)
        let received = try Self.exchange(&simulation, count: 20)
        #expect(received.alice == 20 && received.bob == 20, "\(TestSeeds.replayHint(seed))")
        let relay = simulation.node("relay", as: RelayNode.self)
        // Each payload crosses the relay once: channel data addressed to the other's relayed address on the same
        // relay loops back to the receiver as channel data (Firezone #10286), never onto the network.
        #expect(relay.server.stats.relayedPackets == 40, "\(TestSeeds.replayHint(seed))")
        for name in Self.clients {
            #expect(Self.client(simulation, name).unsent == 0, "\(TestSeeds.replayHint(seed))")
            #expect(Self.client(simulation, name).dropped == 0, "\(TestSeeds.replayHint(seed))")
        }
    }

    /// An hour behind NATs that forget a mapping after 30 s of silence: the keep-alive holds the path, the
    /// refreshes the allocation, data every minute the channels.
    @Test func theAllocationSurvivesAnHourOfRefreshes() throws {
        let nat = NATConfiguration(
            mapping: .endpointIndependent,
            filtering: .addressAndPortDependent,
            mappingTimeout: .seconds(30)
        )
        var simulation = Self.setUp(seed: 3, nat: nat)
        try Self.connect(&simulation, seed: 3)
        let eventsAfterConnecting = Self.clients.map { Self.client(simulation, $0).events.count }
        for minute in 1...60 {
            simulation.elapse(.seconds(59))
            let received = try Self.exchange(&simulation, count: 1)
            #expect(received.alice == 1 && received.bob == 1, "minute \(minute)")
        }
        #expect(Self.clients.map { Self.client(simulation, $0).events.count } == eventsAfterConnecting)
        let relay = simulation.node("relay", as: RelayNode.self)
        #expect(relay.server.stats.allocations == 2)
        let refreshes = relay.server.stats.responses.filter { $0.key.method == 0x004 }.values.reduce(0, +)
        // Two clients, one refresh every 300 s for an hour.
        #expect(refreshes >= 2 * 11)
    }

    @Test func aRelayThatDisappearsInvalidatesTheAllocation() throws {
        var simulation = Self.setUp(seed: 4, clients: ["alice"])
        try #require(simulation.advance(for: .seconds(5)) { Self.allocated($0, ["alice"]) }, "\(simulation.report())")
        simulation.withNode("alice", as: TURNClientNode.self) { node, _ in node.restartsWhenFreed = false }
        let relayed = Self.client(simulation, "alice").allocation.relayedAddresses
        simulation.withNode("relay", as: RelayNode.self) { relay, _ in relay.isReachable = false }

        // The next keep-alive (at most 25 s away) goes unanswered for 8.125 s.
        let freed = simulation.advance(for: .seconds(40)) { Self.client($0, "alice").allocation.canBeFreed }
        #expect(freed, "\(simulation.report())")
        let alice = Self.client(simulation, "alice")
        #expect(alice.allocation.relayedAddresses.isEmpty)
        #expect(Array(alice.events.suffix(relayed.count)) == relayed.map { .invalidatedAddress(.relayed, $0) })
    }

    /// New credentials for the relay the allocation is on (the portal's `init` after a rejoin): the allocation made
    /// with the old ones is deleted with them, as the relay refuses any other username (RFC 8656 §5, 441), and the
    /// new one is made a few round trips later, not a keep-alive interval.
    @Test(arguments: TestSeeds.seeds(count: 5))
    func newCredentialsForTheSameRelayReplaceTheAllocationWithinAFewRoundTrips(seed: UInt64) throws {
        var simulation = Self.setUp(seed: seed, clients: ["alice"])
        try #require(simulation.advance(for: .seconds(5)) { Self.allocated($0, ["alice"]) }, "\(simulation.report())")
        let eventsBefore = Self.client(simulation, "alice").events.count
        let credentials = RelayNode.credentials(clock: simulation.clock, salt: "alice-rejoined")
        simulation.withNode("alice", as: TURNClientNode.self) { node, now in
            node.updateCredentials(username: credentials.username, password: credentials.password, now: now)
        }

        // Two round trips of 30 to 40 ms: the deletion, then the ALLOCATE.
        let reallocated = simulation.advance(for: .milliseconds(500)) { simulation in
            Self.client(simulation, "alice").events.dropFirst(eventsBefore).contains {
                if case .newAddress(.relayed, _) = $0 { true } else { false }
            }
        }
        #expect(reallocated, "\(TestSeeds.replayHint(seed)); \(simulation.report())")
        let alice = Self.client(simulation, "alice")
        #expect(alice.allocation.relayedAddresses.count == 2)
        let relay = simulation.node("relay", as: RelayNode.self)
        let refusals = relay.server.stats.responses.filter { $0.key.errorCode == 437 || $0.key.errorCode == 441 }
        #expect(refusals.isEmpty, "\(refusals)")
    }

    @Test(arguments: TestSeeds.seeds(count: 20))
    func aLinkThatLoses20PercentStillAllocates(seed: UInt64) throws {
        let link = LinkConditions(latency: .milliseconds(20), jitter: .milliseconds(10), loss: 0.2)
        var simulation = Self.setUp(seed: seed, link: link)
        let allocated = simulation.advance(for: .seconds(60)) { Self.allocated($0) }
        #expect(allocated, "\(TestSeeds.replayHint(seed)); \(simulation.report())")
    }
}
