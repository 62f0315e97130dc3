import FirezoneTime
import IPPacket
import NIOCore
import OrderedCollections

/// A deterministic network of hosts running sans-IO nodes, on one virtual clock and one seeded generator
/// (STYLE rule 26; the design of str0m's and quinn's simulated tests).
///
/// Hosts live on the public internet or behind a ``NATConfiguration`` router; each has an access link with
/// ``LinkConditions``. A datagram crosses the sender's link, then the sender's NAT (outbound) and the
/// destination's NAT (inbound) at the same instant, then the receiver's link. Hosts and routers are kept in
/// insertion order and datagrams in flight by arrival time and send order, so the same seed gives the same
/// ``trace`` byte for byte.
///
/// Driving loop: ``step()`` drains every node's transmits, jumps the clock to the earliest of all
/// ``SimulatedNode/pollTimeout()``s and arrivals, delivers what arrives then and fires the timers due then.
/// ``advance(until:)`` steps until nothing is left to do or a deadline; ``advance(for:until:)`` until a
/// condition holds.
public struct Simulation {
    /// Why ``advance(until:)`` stopped.
    public enum AdvanceOutcome: Sendable, Hashable {
        /// No datagram in flight and no timer set.
        case quiescent
        /// The next event lies after the deadline; the clock stands at the deadline.
        case reachedDeadline
        /// Nodes kept producing work without the clock moving (a timer that never clears, a zero-latency loop).
        case livelock
    }

    struct Host {
        let name: String
        var addresses: [IPAddress]
        /// The router the host is behind; nil for a host on the public internet.
        var router: String?
        var link: LinkConditions
        var node: any SimulatedNode
    }

    struct InFlight {
        enum Leg {
            /// Crossing the sender's link towards the routers.
            case uplink(sender: Int)
            /// Crossing the receiver's link towards its node.
            case downlink(receiver: Int)
        }

        var arrival: Instant
        var order: Int
        var datagram: Int
        var source: IPSocketAddress
        var destination: IPSocketAddress
        var payload: ByteBuffer
        var leg: Leg
    }

    /// How many steps may run without the clock moving before ``advance(until:)`` reports a livelock.
    public static let maximumStepsPerInstant = 10_000

    public let seed: UInt64
    public private(set) var clock: FluxCapacitor
    /// The generator behind every impairment; nodes take seeds from it when they are built, never later.
    public var rng: SeededRandomNumberGenerator
    public private(set) var trace: [TraceEntry] = []

    private var hosts: OrderedDictionary<String, Host> = [:]
    private var routers: OrderedDictionary<String, NATRouter> = [:]
    private var inFlight: [InFlight] = []
    private var nextOrder = 0
    private var nextDatagram = 1

    public init(seed: UInt64, clock: FluxCapacitor = FluxCapacitor()) {
        self.seed = seed
        self.clock = clock
        self.rng = SeededRandomNumberGenerator(seed: seed)
    }

    public var now: Instant {
        self.clock.now
    }

    // MARK: Topology

    /// A NAT router between the public internet (where it owns `publicAddresses`) and the hosts added behind it.
    public mutating func addRouter(_ name: String, publicAddresses: [IPAddress], nat: NATConfiguration) {
        precondition(self.routers[name] == nil && self.hosts[name] == nil, "names are unique")
        precondition(
            publicAddresses.allSatisfy { self.owner(of: $0, behind: nil) == nil },
            "public addresses are unique"
        )
        self.routers[name] = NATRouter(name: name, publicAddresses: publicAddresses, configuration: nat)
    }

    /// A host with `addresses` on the public internet or behind `router`, running `node`.
    public mutating func addHost(
        _ name: String,
        addresses: [IPAddress],
        behind router: String? = nil,
        link: LinkConditions = LinkConditions(),
        node: some SimulatedNode
    ) {
        precondition(self.routers[name] == nil && self.hosts[name] == nil, "names are unique")
        precondition(router.map { self.routers[$0] != nil } ?? true, "the router exists")
        precondition(addresses.allSatisfy { self.owner(of: $0, behind: router) == nil }, "addresses are unique")
        self.hosts[name] = Host(name: name, addresses: addresses, router: router, link: link, node: node)
        self.drainTransmits(ofHost: self.hosts.count - 1)
    }

    /// Changes `host`'s access link from now on; `LinkConditions(loss: 1)` cuts it. Datagrams already on the link
    /// keep the conditions they started with.
    public mutating func setLink(of host: String, to conditions: LinkConditions) {
        precondition(self.hosts[host] != nil, "the host exists")
        self.hosts[host]?.link = conditions
    }

    /// Moves `host` to new addresses behind the same router (roaming to another network): datagrams to its old
    /// addresses go nowhere from now on, and its NAT keeps the old mappings until they time out.
    public mutating func readdress(_ host: String, to addresses: [IPAddress]) {
        guard let router = self.hosts[host].map({ $0.router }) else {
            preconditionFailure("the host exists")
        }
        precondition(addresses.allSatisfy { self.owner(of: $0, behind: router) == nil }, "addresses are unique")
        self.hosts[host]?.addresses = addresses
    }

    /// Moves `host` to new addresses behind another router (nil: onto the public internet), as a device that
    /// changes networks: datagrams to its old addresses go nowhere from now on, and the old router keeps its
    /// mappings until they time out.
    public mutating func move(_ host: String, to addresses: [IPAddress], behind router: String?) {
        precondition(self.hosts[host] != nil, "the host exists")
        precondition(router.map { self.routers[$0] != nil } ?? true, "the router exists")
        precondition(addresses.allSatisfy { self.owner(of: $0, behind: router) == nil }, "addresses are unique")
        self.hosts[host]?.router = router
        self.hosts[host]?.addresses = addresses
    }

    /// The node of `host`, for a test to inspect.
    public func node<Node: SimulatedNode>(_ host: String, as type: Node.Type = Node.self) -> Node {
        guard let node = self.hosts[host]?.node as? Node else {
            preconditionFailure("\(host) runs a \(Node.self)")
        }
        return node
    }

    /// Changes the node of `host` (a test's input: a packet to send, a peer to add), then collects what it
    /// sends. `body` gets the node and the current time.
    @discardableResult
    public mutating func withNode<Node: SimulatedNode, Result>(
        _ host: String,
        as type: Node.Type = Node.self,
        _ body: (inout Node, Instant) throws -> Result
    ) rethrows -> Result {
        guard let index = self.hosts.index(forKey: host), var node = self.hosts.values[index].node as? Node else {
            preconditionFailure("\(host) runs a \(Node.self)")
        }
        let result = try body(&node, self.clock.now)
        self.hosts.values[index].node = node
        self.drainTransmits(ofHost: index)
        return result
    }

    // MARK: Running

    /// Runs everything due at the next event's time; false when nothing is left to do.
    @discardableResult
    public mutating func step() -> Bool {
        for index in self.hosts.values.indices {
            self.drainTransmits(ofHost: index)
        }
        guard let next = self.nextEvent() else {
            return false
        }
        self.clock.advance(to: next)
        let now = self.clock.now
        while let first = self.inFlight.first, first.arrival <= now {
            self.inFlight.removeFirst()
            self.process(first)
        }
        for index in self.hosts.values.indices {
            guard let deadline = self.hosts.values[index].node.pollTimeout(), deadline <= now else {
                continue
            }
            self.hosts.values[index].node.handleTimeout(now: now, unixTime: self.clock.unixTime)
            self.drainTransmits(ofHost: index)
        }
        return true
    }

    /// Steps until nothing is left to do or the next event lies after `deadline`.
    @discardableResult
    public mutating func advance(until deadline: Instant) -> AdvanceOutcome {
        self.advance(until: deadline, stoppingWhen: { _ in false }).outcome
    }

    /// Steps for `duration` of simulated time at most (20 s unless told: STYLE rule 26).
    @discardableResult
    public mutating func advance(for duration: Duration = .seconds(20)) -> AdvanceOutcome {
        self.advance(until: self.clock.now + duration)
    }

    /// Runs every event of the next `duration` and leaves the clock at its end, quiet or not: time passing with
    /// nothing to do (a NAT mapping ageing, a timer coming due).
    @discardableResult
    public mutating func elapse(_ duration: Duration) -> AdvanceOutcome {
        let deadline = self.clock.now + duration
        let outcome = self.advance(until: deadline)
        if outcome != .livelock {
            self.clock.advance(to: deadline)
        }
        return outcome
    }

    /// Steps until `condition` holds, for `duration` at most; whether it held. The clock stops at the step where it
    /// first held.
    public mutating func advance(for duration: Duration = .seconds(20), until condition: (Simulation) -> Bool) -> Bool {
        self.advance(until: self.clock.now + duration, stoppingWhen: condition).conditionHeld
    }

    private mutating func advance(
        until deadline: Instant,
        stoppingWhen condition: (Simulation) -> Bool
    )
        -> (outcome: AdvanceOutcome, conditionHeld: Bool)
    {
        var stepsAtThisInstant = 0
        while true {
            if condition(self) {
                return (.reachedDeadline, true)
            }
            for index in self.hosts.values.indices {
                self.drainTransmits(ofHost: index)
            }
            guard let next = self.nextEvent() else {
                return (.quiescent, false)
            }
            guard next <= deadline else {
                self.clock.advance(to: deadline)
                return (.reachedDeadline, false)
            }
            let before = self.clock.now
            self.step()
            stepsAtThisInstant = self.clock.now == before ? stepsAtThisInstant + 1 : 0
            if stepsAtThisInstant > Self.maximumStepsPerInstant {
                return (.livelock, condition(self))
            }
        }
    }

    /// The earliest arrival or timer, never before now.
    private func nextEvent() -> Instant? {
        var next = self.inFlight.first?.arrival
        for host in self.hosts.values {
            if let deadline = host.node.pollTimeout(), deadline < next ?? Instant(nanoseconds: .max) {
                next = deadline
            }
        }
        return next.map { max($0, self.clock.now) }
    }

    // MARK: Datagrams

    private mutating func drainTransmits(ofHost index: Int) {
        let now = self.clock.now
        while let transmit = self.hosts.values[index].node.pollTransmit(now: now) {
            let host = self.hosts.values[index]
            let datagram = self.nextDatagram
            self.nextDatagram += 1
            let length = transmit.payload.readableBytes
            self.record(datagram, transmit.source, transmit.destination, length, .sent(host: host.name))
            guard host.addresses.contains(transmit.source.address) else {
                self.record(datagram, transmit.source, transmit.destination, length, .unroutable)
                continue
            }
            self.cross(
                link: host,
                datagram: datagram,
                source: transmit.source,
                destination: transmit.destination,
                payload: transmit.payload,
                leg: .uplink(sender: index)
            )
        }
    }

    /// Puts the copies of a datagram that survive `link` in flight.
    private mutating func cross(
        link host: Host,
        datagram: Int,
        source: IPSocketAddress,
        destination: IPSocketAddress,
        payload: ByteBuffer,
        leg: InFlight.Leg
    ) {
        let delays = host.link.delays(using: &self.rng)
        let length = payload.readableBytes
        if delays.isEmpty {
            self.record(datagram, source, destination, length, .lost(link: host.name))
        } else if delays.count > 1 {
            self.record(datagram, source, destination, length, .duplicated(link: host.name))
        }
        for delay in delays {
            let copy = InFlight(
                arrival: self.clock.now + delay,
                order: self.nextOrder,
                datagram: datagram,
                source: source,
                destination: destination,
                payload: payload,
                leg: leg
            )
            self.nextOrder += 1
            // After every datagram arriving at the same time or earlier: ties keep the order they were sent in.
            var low = 0
            var high = self.inFlight.count
            while low < high {
                let middle = (low + high) / 2
                if self.inFlight[middle].arrival > copy.arrival {
                    high = middle
                } else {
                    low = middle + 1
                }
            }
            self.inFlight.insert(copy, at: low)
        }
    }

    private mutating func process(_ flight: InFlight) {
        switch flight.leg {
        case .uplink(let sender):
            self.route(flight, from: sender)
        case .downlink(let receiver):
            let name = self.hosts.values[receiver].name
            self.record(
                flight.datagram,
                flight.source,
                flight.destination,
                flight.payload.readableBytes,
                .delivered(host: name)
            )
            self.hosts.values[receiver].node.handleDatagram(
                flight.payload,
                from: flight.source,
                to: flight.destination,
                now: self.clock.now
            )
            self.drainTransmits(ofHost: receiver)
        }
    }

    /// The datagram left the sender's link: through the sender's NAT, the receiver's NAT and onto its link.
    private mutating func route(_ flight: InFlight, from sender: Int) {
        let now = self.clock.now
        let length = flight.payload.readableBytes
        var source = flight.source
        var destination = flight.destination
        let realm = self.hosts.values[sender].router
        if let receiver = self.owner(of: destination.address, behind: realm) {
            return self.deliver(flight, source: source, destination: destination, to: receiver)
        }
        if let routerName = realm {
            guard let external = self.routers[routerName]!.translateOutbound(from: source, to: destination, now: now)
            else {
                return self.record(flight.datagram, source, destination, length, .unroutable)
            }
            self.record(
                flight.datagram,
                external,
                destination,
                length,
                .translatedSource(router: routerName, from: source)
            )
            source = external
        }
        if let receiver = self.owner(of: destination.address, behind: nil) {
            return self.deliver(flight, source: source, destination: destination, to: receiver)
        }
        let owningRouter = self.routers.values.firstIndex { $0.publicAddresses.contains(destination.address) }
        guard let routerIndex = owningRouter, self.routers.keys[routerIndex] != realm else {
            // Hairpinning (RFC 4787 §6) is not simulated: a datagram to the own router's public address goes nowhere.
            return self.record(flight.datagram, source, destination, length, .unroutable)
        }
        let routerName = self.routers.keys[routerIndex]
        switch self.routers.values[routerIndex].translateInbound(from: source, to: destination, now: now) {
        case .noMapping:
            self.record(flight.datagram, source, destination, length, .noMapping(router: routerName))
        case .filtered:
            self.record(flight.datagram, source, destination, length, .filtered(router: routerName))
        case .translated(let internalDestination):
            self.record(
                flight.datagram,
                source,
                internalDestination,
                length,
                .translatedDestination(router: routerName, from: destination)
            )
            destination = internalDestination
            guard let receiver = self.owner(of: destination.address, behind: routerName) else {
                return self.record(flight.datagram, source, destination, length, .unroutable)
            }
            self.deliver(flight, source: source, destination: destination, to: receiver)
        }
    }

    private mutating func deliver(
        _ flight: InFlight,
        source: IPSocketAddress,
        destination: IPSocketAddress,
        to receiver: Int
    ) {
        self.cross(
            link: self.hosts.values[receiver],
            datagram: flight.datagram,
            source: source,
            destination: destination,
            payload: flight.payload,
            leg: .downlink(receiver: receiver)
        )
    }

    /// The index of the host that has `address` in the realm behind `router` (nil: the public internet).
    private func owner(of address: IPAddress, behind router: String?) -> Int? {
        self.hosts.values.firstIndex { $0.router == router && $0.addresses.contains(address) }
    }

    private mutating func record(
        _ datagram: Int,
        _ source: IPSocketAddress,
        _ destination: IPSocketAddress,
        _ length: Int,
        _ event: TraceEntry.Event
    ) {
        self.trace.append(
            TraceEntry(
                time: self.clock.now,
                datagram: datagram,
                source: source,
                destination: destination,
                length: length,
                event: event
            )
        )
    }

    // MARK: Reporting

    /// The whole trace, one entry a line.
    public var traceText: String {
        self.trace.map { "\($0)\n" }.joined()
    }

    /// What a failing test prints: the seed, how to replay it, and the last `entries` lines of the trace.
    public func report(lastEntries entries: Int = 200) -> String {
        let shown = self.trace.suffix(entries)
        var text = "seed \(self.seed), \(TestSeeds.replayHint(self.seed)); at \(self.clock.now)\n"
        if shown.count < self.trace.count {
            text += "(\(self.trace.count - shown.count) earlier trace entries omitted)\n"
        }
        return text + shown.map { "\($0)\n" }.joined()
    }
}
