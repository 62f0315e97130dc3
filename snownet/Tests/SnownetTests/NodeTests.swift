import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import ICE
import IPPacket
import NIOCore
import Testing
import WireGuard

@testable import Snownet

/// The node's own rules, one at a time, on the simulated network with our relays.
@Suite struct NodeTests {
    static func newCandidates(_ events: [NodeEvent<String>]) -> [[String]] {
        events.compactMap { if case .newIceCandidates(_, let batch) = $0 { batch } else { nil } }
    }

    /// One input, one batch per connection, highest priority first; the server-reflexive address both relays see
    /// is signalled once.
    @Test func candidatesGoOutInOneBatchHighestPriorityFirstAndDeduplicated() throws {
        var scenario = Scenario(seed: 1, client: .behind(.fullCone), gateway: .publicInternet, relays: 2)
        scenario.joinRelays()
        let before = scenario.peer(Scenario.client).events.count
        try scenario.connect()
        let events = Array(scenario.peer(Scenario.client).events[before...])
        let batches = Self.newCandidates(events)
        try #require(batches.count == 1, "\(events)")
        let candidates = try batches[0].map { try Candidate(parsing: $0) }
        #expect(candidates.map(\.priority) == candidates.map(\.priority).sorted(by: >))
        #expect(candidates.filter { $0.kind == .host }.count == 1)
        #expect(candidates.filter { $0.kind == .serverReflexive }.count == 1, "\(batches[0])")
        #expect(candidates.filter { $0.kind == .relayed }.count == 1)
    }

    /// An invalid candidate in a batch is skipped alone and counted; the rest are used.
    @Test func anInvalidCandidateIsSkippedAlone() throws {
        var scenario = Scenario(seed: 2, client: .publicInternet, gateway: .publicInternet)
        scenario.joinRelays()
        try scenario.connect()
        let gatewayBatch = try #require(Self.newCandidates(scenario.peer(Scenario.gateway).events).first)
        let skipped = try scenario.withPeer(Scenario.client) { node, now throws(NodeError) in
            try node.addRemoteCandidates(
                ["candidate:garbage", "candidate:1 2 udp 1 1.2.3.4 5 typ host"] + gatewayBatch,
                for: Scenario.gateway,
                now: now
            )
        }
        #expect(skipped == 2)
        #expect(scenario.peer(Scenario.client).node.stats.invalidCandidates == 2)
        let established = scenario.run(for: .seconds(5), until: Scenario.bothEstablished)
        #expect(established)
    }

    /// The same key, preshared key and credentials keep the connection (established stays established and the
    /// candidates are signalled again); a new preshared key replaces it (Firezone #9999).
    @Test func anUpsertKeepsOrReplacesTheConnection() throws {
        var scenario = try TimingScenarioTests.established(seed: 3)
        let before = scenario.peer(Scenario.client).events.count
        try scenario.connect()
        #expect(scenario.peer(Scenario.client).node.isEstablished(Scenario.gateway))
        let resignalled = Self.newCandidates(Array(scenario.peer(Scenario.client).events[before...]))
        #expect(resignalled.count == 1)

        try scenario.withPeer(Scenario.client) { node, now throws(NodeError) in
            try node.upsertConnection(
                Scenario.gateway,
                remoteKey: PeerHost.publicKey(of: Scenario.gatewaySecret),
                presharedKey: PresharedKey(Bytes32((0..<32).map { _ in UInt8(9) })!),
                local: Scenario.clientCredentials,
                remote: Scenario.gatewayCredentials,
                now: now
            )
        }
        #expect(!scenario.peer(Scenario.client).node.isEstablished(Scenario.gateway))
    }

    @Test func aConnectionNeedsARelay() throws {
        var scenario = Scenario(seed: 4, client: .publicInternet, gateway: .publicInternet)
        var noRelays: NodeError?
        do { try scenario.connect() } catch let error as NodeError { noRelays = error }
        #expect(noRelays == .noRelays)
        var unknown: NodeError?
        do {
            try scenario.withPeer(Scenario.client) { node, now throws(NodeError) in
                try node.addRemoteCandidates([], for: "nobody", now: now)
            }
        } catch {
            unknown = error
        }
        #expect(unknown == .unknownConnection)
    }

    /// Public IPv4 of a server-reflexive candidate with the port of a host candidate, at most two, IPv4 only
    /// (Firezone #10367).
    @Test func optimisticCandidatesAreIPv4AndAtMostTwo() throws {
        let remote = try [
            "candidate:1 1 udp 2130706431 10.0.0.2 52625 typ host",
            "candidate:2 1 udp 2130706431 10.0.0.3 52626 typ host",
            "candidate:3 1 udp 2130706431 10.0.0.4 52627 typ host",
            "candidate:4 1 udp 2130706431 fd00::2 52625 typ host",
            "candidate:5 1 udp 1694498559 198.51.100.1 40000 typ srflx raddr 0.0.0.0 rport 0",
        ].map { try Candidate(parsing: $0) }
        let guesses = Node<String, String>.optimisticCandidates(remote: remote, existing: [])
        #expect(
            guesses.map(\.address) == [IPSocketAddress("198.51.100.1:52625")!, IPSocketAddress("198.51.100.1:52626")!]
        )
        #expect(guesses.allSatisfy { $0.kind == .serverReflexive })
        #expect(Node<String, String>.optimisticCandidates(remote: remote, existing: guesses).isEmpty)
    }

    /// Whatever arrives from wherever: a typed error and a count, never a crash.
    @Test func garbageIsRefusedAndCounted() throws {
        for seed in Scenario.seeds {
            var scenario = Scenario(seed: seed, client: .publicInternet, gateway: .publicInternet)
            scenario.joinRelays()
            try scenario.connect()
            var rng = SeededRandomNumberGenerator(seed: seed)
            let relay = IPSocketAddress("203.0.113.1:3478")!
            for index in 0..<2_000 {
                var bytes = rng.bytes(Int(rng.next() % 200))
                if index % 4 == 0, !bytes.isEmpty {
                    bytes[0] = [0x00, 0x01, 0x04, 0x40][Int(rng.next() % 4)]
                }
                if index % 8 == 0, bytes.count >= 8 {
                    bytes.replaceSubrange(4..<8, with: [0x21, 0x12, 0xA4, 0x42])
                }
                var datagram = ByteBuffer(bytes: bytes)
                let source = index % 3 == 0 ? relay : IPSocketAddress("192.0.2.99:\(1000 + index)")!
                _ = try? scenario.withPeer(Scenario.client) { node, now throws(NodeError) in
                    try node.decapsulate(
                        &datagram,
                        from: source,
                        local: IPSocketAddress("198.51.100.10:52625")!,
                        now: now
                    )
                }
            }
            let stats = scenario.peer(Scenario.client).node.stats
            let refused =
                stats.datagramsFromUnknownRelays + stats.unexpectedRelayMessages + stats.invalidChannelData
                + stats.unroutedSTUN + stats.wireGuardRejections
            #expect(refused >= 1_900, "\(stats); \(TestSeeds.replayHint(seed))")
            let established = scenario.run(for: .seconds(5), until: Scenario.bothEstablished)
            #expect(established, "\(TestSeeds.replayHint(seed))")
        }
    }

    /// A packet's connection is found at the position found last only while that position still holds its ID:
    /// replacing a connection moves it to the end and removing one moves those after it, and each is then found
    /// where it now is.
    @Test func aConnectionsCachedPositionIsCheckedAgainstItsID() throws {
        var scenario = Scenario(seed: 5, client: .publicInternet, gateway: .publicInternet)
        scenario.joinRelays()
        let positions = try scenario.withPeer(Scenario.client) { node, now throws(NodeError) -> [Int?] in
            func upsert(_ id: String, key: UInt8, presharedKey: PresharedKey = .none) throws(NodeError) {
                try node.upsertConnection(
                    id,
                    remoteKey: PeerHost.publicKey(of: Bytes32((0..<32).map { UInt8($0) &* 7 &+ key })!),
                    presharedKey: presharedKey,
                    local: IceCredentials(ufrag: "local-\(id)", password: "local-password-0123456789"),
                    remote: Scenario.gatewayCredentials,
                    now: now
                )
            }
            try upsert("a", key: 1)
            try upsert("b", key: 2)
            try upsert("c", key: 3)
            var positions = [node.connectionIndex(of: "a")]
            // A new preshared key replaces the connection (Firezone #9999).
            try upsert("a", key: 1, presharedKey: PresharedKey(Bytes32((0..<32).map { _ in UInt8(9) })!))
            positions += [node.connectionIndex(of: "a"), node.connectionIndex(of: "b")]
            node.removeConnection("b", now: now)
            positions += [node.connectionIndex(of: "c"), node.connectionIndex(of: "a"), node.connectionIndex(of: "b")]
            return positions
        }
        #expect(positions == [0, 2, 0, 0, 1, nil])
    }
}
