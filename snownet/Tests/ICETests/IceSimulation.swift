import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import STUN
import Testing

@testable import ICE

/// Two ICE agents and a small deterministic network between them: datagrams wait in a queue for their latency and
/// are lost at random (a seeded generator), dropped while the path is cut or an address is blocked, and translated
/// by one-to-one NAT mappings. Candidates are signalled through their SDP text, as the portal does.
struct IceSimulation {
    struct Datagram {
        var deliverAt: Instant
        var sequence: Int
        var source: IPSocketAddress
        var destination: IPSocketAddress
        var payload: ByteBuffer
    }

    static let start = Instant(nanoseconds: 1_000_000_000)

    var agents: [IceAgent]
    /// Per agent, what it reported and when.
    var events: [[(time: Instant, event: IceEvent)]] = [[], []]
    /// Per agent, when it sent a binding request.
    var requestTimes: [[Instant]] = [[], []]
    var now = Self.start
    var latency: Duration = .milliseconds(20)
    /// Added to a datagram's latency when it leaves or reaches a relayed address.
    var relayLatency: Duration = .milliseconds(30)
    var loss = 0.0
    var isCut = false
    var blocked: [IPSocketAddress] = []

    private var generator: SeededRandomNumberGenerator
    /// Which agent owns an address; lookups only.
    private var owners: [IPSocketAddress: Int] = [:]
    private var relayedAddresses: [IPSocketAddress] = []
    /// NAT mappings, internal to external and back; lookups only.
    private var externalAddress: [IPSocketAddress: IPSocketAddress] = [:]
    private var internalAddress: [IPSocketAddress: IPSocketAddress] = [:]
    private var inFlight: [Datagram] = []
    private var sequence = 0

    init(seed: UInt64, roles: (IceRole, IceRole) = (.controlling, .controlled)) {
        let client = IceCredentials(ufrag: "cl1e", password: "client-password-0123456789")
        let gateway = IceCredentials(ufrag: "gw7a", password: "gateway-password-0123456789")
        var logger = Logger(label: "ice-simulation")
        logger.logLevel = .critical
        self.agents = [
            IceAgent(role: roles.0, local: client, remote: gateway, seed: seed, logger: logger),
            IceAgent(role: roles.1, local: gateway, remote: client, seed: seed &+ 1, logger: logger),
        ]
        self.generator = SeededRandomNumberGenerator(seed: seed)
    }

    // MARK: Setup

    /// Gives `agent` a host candidate and, when `signal`, tells the other agent about it.
    mutating func addHost(_ agent: Int, _ address: String, signal: Bool = true) {
        let socket = IPSocketAddress(address)!
        self.owners[socket] = agent
        self.add(.host(socket), to: agent, signal: signal)
    }

    /// Gives `agent` a relayed candidate, as if a relay forwarded between the address and the agent.
    mutating func addRelayed(_ agent: Int, _ address: String, signal: Bool = true) {
        let socket = IPSocketAddress(address)!
        self.owners[socket] = agent
        self.relayedAddresses.append(socket)
        self.add(.relayed(socket), to: agent, signal: signal)
    }

    /// Puts `agent`'s socket `internal` behind a NAT that maps it to `external`. The internal address is not
    /// reachable from the other agent.
    mutating func addNAT(_ agent: Int, internal: String, external: String) {
        let inside = IPSocketAddress(`internal`)!
        let outside = IPSocketAddress(external)!
        self.owners[inside] = agent
        self.externalAddress[inside] = outside
        self.internalAddress[outside] = inside
    }

    mutating func add(_ candidate: Candidate, to agent: Int, signal: Bool) {
        guard let added = self.agents[agent].addLocalCandidate(candidate) else {
            Issue.record("candidate \(candidate) rejected")
            return
        }
        if signal {
            self.signal(added, to: 1 - agent)
        }
    }

    mutating func signal(_ candidate: Candidate, to agent: Int) {
        do {
            let parsed = try Candidate(parsing: candidate.sdp)
            self.agents[agent].addRemoteCandidate(parsed, now: self.now)
        } catch {
            Issue.record("\(candidate.sdp) does not parse: \(error)")
        }
        self.drain()
    }

    mutating func setIdle(_ idle: Bool, agent: Int) {
        self.agents[agent].setIdle(idle, now: self.now)
        self.drain()
    }

    // MARK: Running

    mutating func run(for duration: Duration) {
        self.run(until: self.now + duration)
    }

    mutating func run(until end: Instant) {
        self.drain()
        var steps = 0
        while let next = self.nextDeadline(), next <= end {
            steps += 1
            guard steps < 10_000_000 else {
                Issue.record("the simulation does not advance at \(self.now)")
                return
            }
            self.now = max(self.now, next)
            self.deliverDue()
            for agent in self.agents.indices {
                if let deadline = self.agents[agent].pollTimeout(), deadline <= self.now {
                    self.agents[agent].handleTimeout(now: self.now)
                }
            }
            self.drain()
        }
        self.now = max(self.now, end)
    }

    private func nextDeadline() -> Instant? {
        let deadlines = self.agents.compactMap { $0.pollTimeout() } + self.inFlight.map(\.deliverAt)
        return deadlines.min()
    }

    private mutating func deliverDue() {
        let due = self.inFlight.filter { $0.deliverAt <= self.now }.sorted {
            ($0.deliverAt, $0.sequence) < ($1.deliverAt, $1.sequence)
        }
        self.inFlight.removeAll { $0.deliverAt <= self.now }
        for datagram in due {
            let destination = self.internalAddress[datagram.destination] ?? datagram.destination
            guard let owner = self.owners[destination], let message = Self.decode(datagram.payload),
                self.agents[owner].accepts(message)
            else {
                continue
            }
            self.agents[owner].handleSTUN(message, from: datagram.source, to: destination, now: self.now)
            self.drain()
        }
    }

    /// Moves every agent's transmits into the network and its events into the record.
    mutating func drain() {
        for agent in self.agents.indices {
            while let transmit = self.agents[agent].pollTransmit() {
                if Self.decode(transmit.payload)?.type.class == .request {
                    self.requestTimes[agent].append(self.now)
                }
                self.send(transmit, from: agent)
            }
            while let event = self.agents[agent].pollEvent() {
                self.events[agent].append((self.now, event))
            }
        }
    }

    /// Agents only send STUN: anything else is a failure.
    private static func decode(_ payload: ByteBuffer) -> STUNMessage? {
        do {
            return try STUNMessage(decoding: payload)
        } catch {
            Issue.record("an agent sent a datagram that is not STUN: \(error)")
            return nil
        }
    }

    private mutating func send(_ transmit: IceTransmit, from agent: Int) {
        #expect(self.owners[transmit.source] == agent, "agent \(agent) sent from \(transmit.source), not its own")
        let source = self.externalAddress[transmit.source] ?? transmit.source
        let lost = self.loss > 0 && Double.random(in: 0..<1, using: &self.generator) < self.loss
        // A NAT's internal address is private: only its own side could reach it, and there is nobody else.
        let isPrivate = self.externalAddress[transmit.destination] != nil
        guard !self.isCut, !lost, !isPrivate, !self.blocked.contains(source),
            !self.blocked.contains(transmit.destination)
        else {
            return
        }
        var latency = self.latency
        if self.relayedAddresses.contains(source) || self.relayedAddresses.contains(transmit.destination) {
            latency += self.relayLatency
        }
        self.sequence += 1
        self.inFlight.append(
            Datagram(
                deliverAt: self.now + latency,
                sequence: self.sequence,
                source: source,
                destination: transmit.destination,
                payload: transmit.payload
            )
        )
    }

    // MARK: Observations

    func nominations(_ agent: Int) -> [(local: Candidate, remote: Candidate)] {
        self.events[agent].compactMap {
            if case .nominated(let local, let remote) = $0.event {
                return (local, remote)
            }
            return nil
        }
    }

    func time(of state: IceConnectionState, _ agent: Int) -> Instant? {
        self.events[agent].first { $0.event == .stateChanged(state) }?.time
    }

    /// Whether both agents use the same path: each one's local address is what the other sees as remote.
    var nominatedTheSamePair: Bool {
        guard let first = self.agents[0].nominatedPair, let second = self.agents[1].nominatedPair else {
            return false
        }
        let firstSeen = self.externalAddress[first.local.base] ?? first.local.base
        let secondSeen = self.externalAddress[second.local.base] ?? second.local.base
        return first.remote.address == secondSeen && second.remote.address == firstSeen
    }

    /// Both agents rank every pair they share alike (RFC 8445 §6.1.2.3), so both check the best one first.
    var pairPrioritiesAgree: Bool {
        func seen(_ base: IPSocketAddress) -> IPSocketAddress {
            self.externalAddress[base] ?? base
        }
        return self.agents[0].pairs.allSatisfy { pair in
            self.agents[1].pairs.allSatisfy { other in
                seen(pair.local.base) != other.remote.address || pair.remote.address != seen(other.local.base)
                    || pair.priority == other.priority
            }
        }
    }
}
