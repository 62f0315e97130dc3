import FirezoneTesting
import FirezoneTime
import IPPacket
import NIOCore
import Testing

/// A node whose only behaviour is a timer: at `deadline` it sends one datagram, and unless `clears` is false
/// the timer is then gone.
struct TimerNode: SimulatedNode {
    var deadline: Instant?
    var clears = true
    let source: IPSocketAddress
    let destination: IPSocketAddress
    private(set) var fired: [Instant] = []
    private var pending = false

    init(deadline: Instant?, clears: Bool = true, source: IPSocketAddress, destination: IPSocketAddress) {
        self.deadline = deadline
        self.clears = clears
        self.source = source
        self.destination = destination
    }

    func handleDatagram(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {}

    mutating func pollTransmit(now: Instant) -> SimulatedTransmit? {
        guard self.pending else {
            return nil
        }
        self.pending = false
        return SimulatedTransmit(
            source: self.source,
            destination: self.destination,
            payload: ByteBuffer(string: "tick")
        )
    }

    func pollTimeout() -> Instant? {
        self.deadline
    }

    mutating func handleTimeout(now: Instant, unixTime: Duration) {
        self.fired.append(now)
        self.pending = true
        if self.clears {
            self.deadline = nil
        }
    }
}

struct SimulationTests {
    @Test func stepJumpsToTheEarliestTimerOrArrival() {
        var simulation = Simulation(seed: 1)
        let timer = TimerNode(
            deadline: Instant.zero + .seconds(5),
            source: socket("203.0.113.1:1"),
            destination: socket("203.0.113.2:2")
        )
        simulation.addHost("timer", addresses: [address("203.0.113.1")], node: timer)
        simulation.addHost("receiver", addresses: [address("203.0.113.2")], node: RecordingNode())
        simulation.withNode("receiver", as: RecordingNode.self) { node, _ in
            node.send("early", from: socket("203.0.113.2:2"), to: socket("203.0.113.1:1"))
        }
        var stepped = simulation.step()
        #expect(stepped)
        #expect(simulation.now == Instant.zero + .milliseconds(10), "the datagram reached the core after one link")
        stepped = simulation.step()
        #expect(stepped)
        #expect(simulation.now == Instant.zero + .milliseconds(20), "and the timer host after the second")
        stepped = simulation.step()
        #expect(stepped)
        #expect(simulation.now == Instant.zero + .seconds(5))
        #expect(simulation.node("timer", as: TimerNode.self).fired == [Instant.zero + .seconds(5)])
        #expect(simulation.advance() == .quiescent)
        #expect(simulation.now == Instant.zero + .seconds(5) + .milliseconds(20))
        #expect(simulation.node("receiver", as: RecordingNode.self).arrivals.map(\.text) == ["tick"])
        stepped = simulation.step()
        #expect(!stepped, "nothing left")
    }

    @Test func advanceStopsAtItsCap() {
        var simulation = Simulation(seed: 1)
        let timer = TimerNode(
            deadline: Instant.zero + .seconds(30),
            source: socket("203.0.113.1:1"),
            destination: socket("203.0.113.2:2")
        )
        simulation.addHost("timer", addresses: [address("203.0.113.1")], node: timer)
        #expect(simulation.advance() == .reachedDeadline)
        #expect(simulation.now == Instant.zero + .seconds(20), "capped at 20 s by default")
        #expect(simulation.node("timer", as: TimerNode.self).fired.isEmpty)
        #expect(simulation.advance(for: .seconds(11)) == .quiescent)
        #expect(simulation.node("timer", as: TimerNode.self).fired == [Instant.zero + .seconds(30)])
    }

    @Test func aTimerThatNeverClearsIsReportedAsALivelock() {
        var simulation = Simulation(seed: 1)
        let timer = TimerNode(
            deadline: .zero,
            clears: false,
            source: socket("203.0.113.1:1"),
            destination: socket("203.0.113.2:2")
        )
        simulation.addHost("timer", addresses: [address("203.0.113.1")], node: timer)
        #expect(simulation.advance() == .livelock)
    }

    @Test func advanceStopsWhenTheConditionHolds() {
        var simulation = Simulation(seed: 1)
        simulation.addHost("a", addresses: [address("203.0.113.1")], node: RecordingNode(echoes: true))
        simulation.addHost("b", addresses: [address("203.0.113.2")], node: RecordingNode(echoes: true))
        simulation.withNode("a", as: RecordingNode.self) { node, _ in
            node.send("ball", from: socket("203.0.113.1:1"), to: socket("203.0.113.2:2"))
        }
        let held = simulation.advance(for: .seconds(1)) { $0.node("a", as: RecordingNode.self).arrivals.count == 3 }
        #expect(held)
        #expect(simulation.now == Instant.zero + .milliseconds(120), "three round trips of 40 ms")
        #expect(!simulation.advance(for: .seconds(1)) { _ in false }, "a ball bounced forever never quiets down")
    }

    @Test func aHostMovedBehindAnotherRouterSendsFromThatRoutersAddress() {
        var simulation = Simulation(seed: 1)
        simulation.addRouter("home", publicAddresses: [address("198.51.100.1")], nat: .fullCone)
        simulation.addRouter("cafe", publicAddresses: [address("198.51.100.2")], nat: .fullCone)
        simulation.addHost("laptop", addresses: [address("10.0.0.2")], behind: "home", node: RecordingNode())
        simulation.addHost("server", addresses: [address("203.0.113.1")], node: RecordingNode(echoes: true))
        simulation.move("laptop", to: [address("10.0.1.2")], behind: "cafe")
        simulation.withNode("laptop", as: RecordingNode.self) { node, _ in
            node.send("hello", from: socket("10.0.1.2:5000"), to: socket("203.0.113.1:3478"))
        }
        simulation.advance()
        let seen = simulation.node("server", as: RecordingNode.self).arrivals.map(\.source.address)
        #expect(seen == [address("198.51.100.2")])
        let echoed = simulation.node("laptop", as: RecordingNode.self).arrivals.map(\.destination)
        #expect(echoed == [socket("10.0.1.2:5000")], "the new router maps the reply back")
    }

    @Test func aSourceTheHostDoesNotOwnIsUnroutable() {
        var simulation = Simulation(seed: 1)
        simulation.addHost("a", addresses: [address("203.0.113.1")], node: RecordingNode())
        simulation.addHost("b", addresses: [address("203.0.113.2")], node: RecordingNode())
        simulation.withNode("a", as: RecordingNode.self) { node, _ in
            node.send("spoofed", from: socket("203.0.113.9:1"), to: socket("203.0.113.2:2"))
        }
        simulation.advance()
        #expect(simulation.trace.map(\.event) == [.sent(host: "a"), .unroutable])
        #expect(simulation.node("b", as: RecordingNode.self).arrivals.isEmpty)
    }

    @Test func aFailureReportNamesTheSeedAndHowToReplayIt() {
        var simulation = Simulation(seed: 1234)
        simulation.addHost("a", addresses: [address("203.0.113.1")], node: RecordingNode())
        simulation.withNode("a", as: RecordingNode.self) { node, _ in
            node.send("x", from: socket("203.0.113.1:1"), to: socket("192.0.2.1:2"))
        }
        simulation.advance()
        #expect(
            simulation.report() == """
                seed 1234, replay with SIMULATION_SEED=1234; at 0.010000000s
                0.000000000s #1 203.0.113.1:1 > 192.0.2.1:2 1 B sent by a
                0.010000000s #1 203.0.113.1:1 > 192.0.2.1:2 1 B unroutable

                """
        )
    }
}
