import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import ICE
import IPPacket
import Logging
import NIOCore
import STUN
import SimulatedRelay
import Snownet
import TURNClient
import WireGuard

/// Plays an ``EventSequence`` on a ``Scenario`` (client, gateway, its relays, and a stranger on the public
/// internet) and checks the invariants after every step:
///
/// 1. Nothing traps (a trap ends the whole test process, so every input stays within the API's documented
///    preconditions, and everything a peer, a stranger or the portal can send is sent).
/// 2. Each node sends only to addresses it learned legitimately (``AddressAudit``), and refuses everything the
///    stranger sends it.
/// 3. A connection that disappears from a node was reported failed or closed, unless the test removed it or an
///    upsert of its ID was refused (the caller learns of that from the error).
/// 4. Refusals are the documented ones: unknown connection exactly when the node has no such connection, no
///    relays exactly when it has none, a duplicate key exactly when another connection has it.
/// 5. After a quiet period with healed links, a connection both sides report established carries data both
///    ways, or one side gives it up (within the active failure timeout).
/// 6. At the end, three minutes after the links healed (``settleTime``), every connection a node still has is
///    established, and invariant 5 holds once more: nothing is stuck connecting.
struct EventSequenceRun {
    typealias Side = EventSequence.Side

    /// The ID of a connection to someone other than the peer.
    static let otherConnection = "other"
    /// A connection ID neither node ever has.
    static let unknownConnection = "nobody"
    static let stranger = "stranger"
    static let peerLink = LinkConditions(latency: .milliseconds(10))
    static let relayLink = LinkConditions()
    /// How long established connections get to carry data, or give up, after the links heal.
    static let trafficGrace: Duration = .seconds(25)
    /// How long the links are healed at the end before every connection must be established: two minutes, and one
    /// more for WireGuard's rekeying (after 120 s, WireGuard paper §6.2) to mend a session one side lost while the
    /// other reused its connection (a reused connection's rollover waits 20 s, Firezone #10102).
    static let settleTime: Duration = .seconds(180)

    struct Flow {
        var client: IceCredentials
        var gateway: IceCredentials
        var presharedKey: PresharedKey
    }

    let sequence: EventSequence
    private(set) var scenario: Scenario
    private(set) var violations: [String] = []
    private var secrets: [Side: Bytes32] = [.client: Scenario.clientSecret, .gateway: Scenario.gatewaySecret]
    private var flow = Flow(
        client: Scenario.clientCredentials,
        gateway: Scenario.gatewayCredentials,
        presharedKey: Scenario.presharedKey
    )
    private var generation = 0
    /// The key each connection ID was last upserted with, per side.
    private var keys: [Side: [String: PublicKey]] = [.client: [:], .gateway: [:]]
    /// The relays each side was last given by a step, by relay name.
    private var servers: [Side: [String: TURNServer<String>]] = [.client: [:], .gateway: [:]]
    private var stepIndex = -1

    init(_ sequence: EventSequence, peerLogLevel: Logger.Level = .info) {
        self.sequence = sequence
        self.scenario = Scenario(
            seed: sequence.seed,
            client: Self.placement(sequence.client),
            gateway: Self.placement(sequence.gateway),
            relays: sequence.relays,
            clientLink: Self.peerLink,
            gatewayLink: Self.peerLink,
            relayLink: Self.relayLink,
            peerLogLevel: peerLogLevel
        )
        self.scenario.simulation.addHost(Self.stranger, addresses: [StrangerHost.address], node: StrangerHost())
        for side in Side.allCases {
            for server in self.scenario.turnServers(for: Self.host(side)) {
                self.servers[side]?[server.id] = server
            }
        }
        self.scenario.joinRelays()
    }

    static func placement(_ placement: EventSequence.Placement) -> Scenario.Placement {
        switch placement {
        case .publicInternet: .publicInternet
        case .fullCone: .behind(.fullCone)
        case .portRestrictedCone: .behind(.portRestrictedCone)
        case .symmetric: .behind(.symmetric)
        }
    }

    static func host(_ side: Side) -> String {
        side == .client ? Scenario.client : Scenario.gateway
    }

    static func other(_ side: Side) -> Side {
        side == .client ? .gateway : .client
    }

    /// The ID under which `side` knows its peer.
    static func peerID(of side: Side) -> String {
        Scenario.peer(of: Self.host(side))
    }

    /// Plays every step and the end; the violations found, empty when every invariant held. Stops at the first
    /// step that broke one.
    mutating func play() -> [String] {
        for (index, step) in self.sequence.steps.enumerated() {
            self.stepIndex = index
            let before = Side.allCases.map { side in
                (ids: self.peer(side).node.connectionIDs, events: self.peer(side).events.count)
            }
            let excused = self.perform(step)
            self.checkReports(before: before, excused: excused)
            self.checkAudits()
            if !self.violations.isEmpty {
                return self.violations
            }
        }
        self.stepIndex = self.sequence.steps.count
        self.finish()
        self.checkAudits()
        return self.violations
    }

    /// The seed, where the sequence stopped, the trace, events and errors.
    var report: String {
        "stopped after step \(self.stepIndex) of \(self.sequence.steps.count) at \(self.scenario.simulation.now); the "
            + "seed below is the sequence's simulation seed: replay the sequence itself, not that seed\n"
            + self.scenario.report(seed: self.sequence.seed)
    }

    private func peer(_ side: Side) -> PeerHost {
        self.scenario.peer(Self.host(side))
    }

    private mutating func violation(_ text: String) {
        self.violations.append("step \(self.stepIndex) at \(self.scenario.simulation.now): \(text)")
    }

    // MARK: Steps

    /// Performs one step; the connection IDs, per side, that may vanish without a report.
    private mutating func perform(_ step: EventSequence.Step) -> [Side: Set<String>] {
        var excused: [Side: Set<String>] = [:]
        switch step {
        case .connect(let fresh):
            if fresh {
                self.newFlow()
            }
            for side in [Side.gateway, .client] where !self.upsert(side, id: Self.peerID(of: side)) {
                excused[side, default: []].insert(Self.peerID(of: side))
            }
        case .upsert(let side, let fresh):
            if fresh {
                self.newFlow()
            }
            if !self.upsert(side, id: Self.peerID(of: side)) {
                excused[side, default: []].insert(Self.peerID(of: side))
            }
        case .upsertOther(let side, let peerKey):
            let key = peerKey ? nil : PeerHost.publicKey(of: Bytes32((0..<32).map { UInt8($0) &* 3 &+ 77 })!)
            if !self.upsert(side, id: Self.otherConnection, key: key) {
                excused[side, default: []].insert(Self.otherConnection)
            }
        case .remove(let side):
            excused[side, default: []].insert(Self.peerID(of: side))
            self.change(side) { node, now throws(NodeError) in node.removeConnection(Self.peerID(of: side), now: now) }
        case .close(let side):
            let goodbye = LifecycleScenarioTests.goodbye()
            self.change(side) { node, now throws(NodeError) in
                node.closeConnection(Self.peerID(of: side), goodbye: goodbye, now: now)
            }
        case .addCandidates(let side, let injection):
            self.inject(injection, to: side)
        case .removeCandidate(let side, let removal):
            self.remove(removal, from: side)
        case .relays(let side, let change):
            self.changeRelays(change, of: side)
        case .reset(let side):
            self.generation += 1
            let secret = Bytes32((0..<32).map { UInt8($0) &* 29 &+ UInt8(truncatingIfNeeded: self.generation) })!
            self.secrets[side] = secret
            self.change(side) { node, now throws(NodeError) in node.reset(secret: StaticSecret(secret), now: now) }
        case .send(let side, let count):
            for index in 0..<count {
                self.send(from: side, index: index)
            }
        case .loss(let host, let percent):
            let names = [Scenario.client, Scenario.gateway] + self.scenario.relayNames
            let name = names[min(host, names.count - 1)]
            var link = host < 2 ? Self.peerLink : Self.relayLink
            link.loss = Double(percent) / 100
            self.scenario.simulation.setLink(of: name, to: link)
        case .wait(let milliseconds):
            self.scenario.run(for: .milliseconds(milliseconds))
        case .quiet:
            self.healLinks()
            self.scenario.run(for: .seconds(5))
            self.checkTraffic()
        case .stranger(let side, let datagram):
            self.strangerSends(datagram, to: side)
            self.scenario.run(for: .milliseconds(50))
        }
        return excused
    }

    private mutating func newFlow() {
        self.generation += 1
        let generation = self.generation
        self.flow = Flow(
            client: IceCredentials(ufrag: "c\(generation)", password: "client-password-\(generation)-0123456789"),
            gateway: IceCredentials(ufrag: "g\(generation)", password: "gateway-password-\(generation)-0123456789"),
            presharedKey: PresharedKey(
                Bytes32((0..<32).map { UInt8($0) &* 31 &+ UInt8(truncatingIfNeeded: generation) })!
            )
        )
    }

    /// Upserts connection `id` on `side` with the current flow, to `key` (the peer's current key when nil);
    /// whether the node took it. Checks that a refusal is one the situation calls for.
    private mutating func upsert(_ side: Side, id: String, key: PublicKey? = nil) -> Bool {
        let key = key ?? PeerHost.publicKey(of: self.secrets[Self.other(side)]!)
        let (local, remote) =
            side == .client ? (self.flow.client, self.flow.gateway) : (self.flow.gateway, self.flow.client)
        let node = self.peer(side).node
        let hasRelays = !node.relayIDs.isEmpty
        let replaced = node.connectionIDs.contains(id)
        let liveKeys = (self.keys[side] ?? [:]).filter { $0.key != id && node.connectionIDs.contains($0.key) }
        let duplicate = liveKeys.values.contains(key)
        let presharedKey = self.flow.presharedKey
        let result = self.change(side) { node, now throws(NodeError) in
            try node.upsertConnection(
                id,
                remoteKey: key,
                presharedKey: presharedKey,
                local: local,
                remote: remote,
                now: now
            )
        }
        switch result {
        case .success:
            self.keys[side]?[id] = key
            return true
        case .failure(.noRelays) where !hasRelays:
            return false
        case .failure(.duplicatePublicKey) where duplicate:
            return false
        case .failure(let error):
            self.violation(
                "\(side) refused to upsert \(id) (relays: \(hasRelays), replacing: \(replaced), key in use: "
                    + "\(duplicate)): \(error)"
            )
            return false
        }
    }

    /// The candidates `side`'s peer signalled for the connection to `side`, as the portal carries them.
    private func peerCandidates(of side: Side) -> [String] {
        self.peer(Self.other(side)).node.signalledCandidates(of: Self.host(side))
    }

    private mutating func inject(_ injection: EventSequence.Injection, to side: Side) {
        let id: String
        let candidates: [String]
        switch injection {
        case .garbage(let text):
            // In a batch with the peer's real candidates: the bad one alone is skipped.
            (id, candidates) = (Self.peerID(of: side), [text] + self.peerCandidates(of: side))
        case .unrelated(let kind, let host, let port):
            let address = IPSocketAddress(IPAddress("203.0.113.\(100 + Int(host))")!, port: port)
            let candidate: Candidate =
                switch kind {
                case .serverReflexive: .serverReflexive(address, base: address)
                case .relayed: .relayed(address)
                case .host, .peerReflexive: .host(address)
                }
            (id, candidates) = (Self.peerID(of: side), [candidate.sdp])
        case .duplicates:
            (id, candidates) = (Self.peerID(of: side), self.peerCandidates(of: side))
        case .forUnknownConnection:
            (id, candidates) = (Self.unknownConnection, self.peerCandidates(of: side))
        }
        let exists = self.peer(side).node.connectionIDs.contains(id)
        let result = self.change(side, signalling: candidates) { node, now throws(NodeError) in
            try node.addRemoteCandidates(candidates, for: id, now: now)
        }
        switch (result, exists) {
        case (.success, true), (.failure(.unknownConnection), false):
            break
        case (.success, false):
            self.violation("\(side) took candidates for \(id), which it does not have")
        case (.failure(let error), _):
            self.violation("\(side) refused candidates \(candidates) for \(id): \(error)")
        }
    }

    private mutating func remove(_ removal: EventSequence.Removal, from side: Side) {
        var id = Self.peerID(of: side)
        let sdp: String
        switch removal {
        case .peerCandidate:
            guard let first = self.peerCandidates(of: side).first else {
                return
            }
            sdp = first
        case .garbage(let text):
            sdp = text
        case .unrelated:
            sdp = Candidate.host(IPSocketAddress(IPAddress("203.0.113.250")!, port: 1)).sdp
        case .forUnknownConnection:
            id = Self.unknownConnection
            sdp = Candidate.host(IPSocketAddress(IPAddress("203.0.113.250")!, port: 1)).sdp
        }
        let exists = self.peer(side).node.connectionIDs.contains(id)
        let parses = (try? Candidate(parsing: sdp)) != nil
        let result = self.change(side) { node, now throws(NodeError) in
            try node.removeRemoteCandidate(sdp, for: id, now: now)
        }
        let expected: Bool
        switch (result, exists) {
        case (.success, true): expected = parses
        case (.failure(.invalidCandidate), true): expected = !parses
        case (.failure(.unknownConnection), false): expected = true
        default: expected = false
        }
        if !expected {
            self.violation("\(side) removing \(sdp.debugDescription) from \(id) (exists: \(exists)): \(result)")
        }
    }

    private mutating func changeRelays(_ change: EventSequence.RelayChange, of side: Side) {
        let host = Self.host(side)
        let names = self.scenario.relayNames
        switch change {
        case .remove(let relay):
            self.scenario.giveRelays([], removing: [names[relay % names.count]], to: host)
        case .add(let relay):
            let name = names[relay % names.count]
            let server = self.servers[side]?[name] ?? self.scenario.turnServers(for: host, relays: [name])[0]
            self.scenario.giveRelays([server], removing: [], to: host)
        case .replaceCredentials(let relay):
            let name = names[relay % names.count]
            self.generation += 1
            let credentials = RelayNode.credentials(
                clock: self.scenario.simulation.clock,
                salt: "\(host)-\(name)-\(self.generation)"
            )
            var server = self.scenario.turnServers(for: host, relays: [name])[0]
            server.username = credentials.username
            server.password = credentials.password
            self.servers[side]?[name] = server
            self.scenario.giveRelays([server], removing: [], to: host)
        }
    }

    private mutating func send(from side: Side, index: Int) {
        let packet = Scenario.packet("\(side) step \(self.stepIndex) \(index)", fromClient: side == .client)
        let id = Self.peerID(of: side)
        let exists = self.peer(side).node.connectionIDs.contains(id)
        let outcome: Result<Bool, NodeError> = self.scenario.simulation.withNode(Self.host(side), as: PeerHost.self) {
            host,
            now in
            do throws(NodeError) {
                return .success(try host.send(packet, to: id, now: now))
            } catch {
                return .failure(error)
            }
        }
        switch (outcome, exists) {
        case (.success, true), (.failure(.unknownConnection), false):
            break
        default:
            self.violation("\(side) sending to \(id) (exists: \(exists)): \(outcome)")
        }
    }

    private mutating func strangerSends(_ datagram: EventSequence.StrangerDatagram, to side: Side) {
        let node = self.peer(side)
        let signalled = node.node.signalledCandidates(of: Self.peerID(of: side)).compactMap {
            try? Candidate(parsing: $0)
        }
        let target = signalled.first { $0.kind != .relayed }?.address ?? node.sockets[0]
        var payload = ByteBuffer()
        var source = StrangerHost.socket
        switch datagram {
        case .junk:
            payload.writeString("hello, is anybody there?")
        case .bindingRequestForNoConnection:
            var rng = FirezoneTesting.SeededRandomNumberGenerator(seed: UInt64(self.stepIndex))
            STUNMessageEncoder.encode(
                type: STUNMessageType(method: .binding, class: .request),
                transactionID: TransactionID(using: &rng),
                attributes: [.username("nobody:stranger"), .priority(1)],
                messageIntegrityKey: Array("stranger".utf8),
                fingerprint: true,
                into: &payload
            )
        case .wireGuardInitiation:
            payload.writeBytes([1, 0, 0, 0] + [UInt8](repeating: 0x5A, count: 144))
        case .channelDataFromNoRelay:
            source = IPSocketAddress(StrangerHost.address, port: RelayNode.listeningPort)
            payload.writeBytes([0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4])
        }
        self.scenario.simulation.withNode(Self.stranger, as: StrangerHost.self) { stranger, _ in
            stranger.send(payload, from: source, to: target)
        }
    }

    /// Changes `side`'s node as the portal or the application does; `signalling` are candidates the portal hands
    /// it with the change.
    @discardableResult
    private mutating func change<Value>(
        _ side: Side,
        signalling candidates: [String] = [],
        _ body: (inout PeerHost.SnownetNode, Instant) throws(NodeError) -> Value
    ) -> Result<Value, NodeError> {
        self.scenario.simulation.withNode(Self.host(side), as: PeerHost.self) { host, now in
            host.audit.noteSignalled(candidates)
            do throws(NodeError) {
                return .success(
                    try host.change { (node: inout PeerHost.SnownetNode) throws(NodeError) in try body(&node, now) }
                )
            } catch {
                return .failure(error)
            }
        }
    }

    // MARK: Invariants

    private mutating func healLinks() {
        self.scenario.simulation.setLink(of: Scenario.client, to: Self.peerLink)
        self.scenario.simulation.setLink(of: Scenario.gateway, to: Self.peerLink)
        for relay in self.scenario.relayNames {
            self.scenario.simulation.setLink(of: relay, to: Self.relayLink)
        }
    }

    /// Invariant 3.
    private mutating func checkReports(before: [(ids: [String], events: Int)], excused: [Side: Set<String>]) {
        for (index, side) in Side.allCases.enumerated() {
            let peer = self.peer(side)
            let events = peer.events.dropFirst(before[index].events)
            let remaining = Set(peer.node.connectionIDs)
            for id in before[index].ids where !remaining.contains(id) && !(excused[side]?.contains(id) ?? false) {
                let reported = events.contains { event in
                    switch event {
                    case .connectionFailed(id, _), .connectionClosed(id): true
                    default: false
                    }
                }
                if !reported {
                    self.violation("\(side)'s connection \(id) vanished without a report")
                }
            }
        }
    }

    /// Invariant 2.
    private mutating func checkAudits() {
        let strangers: Set<IPSocketAddress> = [
            StrangerHost.socket, IPSocketAddress(StrangerHost.address, port: RelayNode.listeningPort),
        ]
        for side in Side.allCases {
            let audit = self.peer(side).audit
            for violation in audit.violations {
                self.violation("\(side) sent where it must not: \(violation)")
            }
            if !audit.legitimate.isDisjoint(with: strangers) {
                self.violation("\(side) accepted a stranger's datagram")
            }
        }
        let received = self.scenario.simulation.node(Self.stranger, as: StrangerHost.self).received
        if received > 0 {
            self.violation("the stranger received \(received) datagrams")
        }
    }

    /// Invariant 5: while both sides report the connection established, data flows both ways within
    /// ``trafficGrace``.
    private mutating func checkTraffic() {
        let start = self.scenario.simulation.now
        var last = (toGateway: 0, toClient: 0)
        while Scenario.bothEstablished(self.scenario.simulation) {
            last = self.scenario.exchange(count: 3)
            if last == (3, 3) {
                return
            }
            if self.scenario.simulation.now - start > Self.trafficGrace {
                self.violation(
                    "both sides established since \(start), yet only \(last) of 3 packets arrived each way"
                )
                return
            }
        }
    }

    /// Invariant 6.
    private mutating func finish() {
        self.healLinks()
        self.scenario.run(for: Self.settleTime)
        for side in Side.allCases {
            let node = self.peer(side).node
            for id in node.connectionIDs where !node.isEstablished(id) {
                self.violation(
                    "\(side)'s connection \(id) is not established \(Self.settleTime) after the links healed"
                )
            }
        }
        self.checkTraffic()
    }
}
