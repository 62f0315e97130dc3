import FirezoneTesting
import FirezoneTime
import IPPacket
import Testing

/// Link impairments, measured over many datagrams from a public sender to a public receiver.
struct LinkConditionsTests {
    static let sender = socket("203.0.113.1:1000")
    static let receiver = socket("203.0.113.2:2000")
    static let count = 2000

    /// Sends `count` numbered datagrams one millisecond apart over `link` (the sender's; the receiver's is
    /// ideal) and runs until all have arrived.
    static func run(_ link: LinkConditions, seed: UInt64) -> Simulation {
        var simulation = Simulation(seed: seed)
        simulation.addHost("sender", addresses: [Self.sender.address], link: link, node: RecordingNode())
        simulation.addHost(
            "receiver",
            addresses: [Self.receiver.address],
            link: LinkConditions(latency: .zero),
            node: RecordingNode()
        )
        for index in 0..<Self.count {
            simulation.withNode("sender", as: RecordingNode.self) { node, _ in
                node.send("\(index)", from: Self.sender, to: Self.receiver)
            }
            simulation.elapse(.milliseconds(1))
        }
        simulation.advance(for: .seconds(10))
        return simulation
    }

    static func arrivals(_ simulation: Simulation) -> [RecordingNode.Arrival] {
        simulation.node("receiver", as: RecordingNode.self).arrivals
    }

    @Test func latencyDelaysEveryDatagramExactly() {
        var simulation = Simulation(seed: 1)
        simulation.addHost(
            "sender",
            addresses: [Self.sender.address],
            link: LinkConditions(latency: .milliseconds(30)),
            node: RecordingNode()
        )
        simulation.addHost(
            "receiver",
            addresses: [Self.receiver.address],
            link: LinkConditions(latency: .milliseconds(12)),
            node: RecordingNode(echoes: true)
        )
        simulation.withNode("sender", as: RecordingNode.self) { node, _ in
            node.send("ping", from: Self.sender, to: Self.receiver)
        }
        #expect(simulation.advance() == .quiescent)
        #expect(Self.arrivals(simulation).map(\.time) == [Instant.zero + .milliseconds(42)])
        #expect(
            simulation.node("sender", as: RecordingNode.self).arrivals.map(\.time) == [Instant.zero + .milliseconds(84)]
        )
        #expect(simulation.now == Instant.zero + .milliseconds(84), "the clock stops where the last event was")
    }

    @Test(arguments: TestSeeds.seeds(count: 3))
    func lossDropsTheConfiguredShare(seed: UInt64) {
        let simulation = Self.run(LinkConditions(loss: 0.3), seed: seed)
        let lost = simulation.trace.filter { $0.event == .lost(link: "sender") }.count
        let report = Comment(rawValue: TestSeeds.replayHint(seed))
        #expect(Self.arrivals(simulation).count + lost == Self.count, report)
        #expect((500...700).contains(lost), "\(lost) of \(Self.count) lost at 30 %; \(report)")
    }

    @Test(arguments: TestSeeds.seeds(count: 3))
    func duplicationDeliversTheConfiguredShareTwice(seed: UInt64) {
        let simulation = Self.run(LinkConditions(duplication: 0.1), seed: seed)
        let extra = Self.arrivals(simulation).count - Self.count
        let report = Comment(rawValue: TestSeeds.replayHint(seed))
        #expect((140...260).contains(extra), "\(extra) duplicates at 10 %; \(report)")
        #expect(Set(Self.arrivals(simulation).map(\.text)).count == Self.count, report)
    }

    @Test(arguments: TestSeeds.seeds(count: 3))
    func jitterStaysWithinItsBoundAndReordersClosePackets(seed: UInt64) {
        let link = LinkConditions(latency: .milliseconds(10), jitter: .milliseconds(5))
        let simulation = Self.run(link, seed: seed)
        let report = Comment(rawValue: TestSeeds.replayHint(seed))
        for arrival in Self.arrivals(simulation) {
            let sent = Instant.zero + .milliseconds(Int(arrival.text)!)
            #expect((Duration.milliseconds(10)...Duration.milliseconds(15)).contains(arrival.time - sent), report)
        }
        #expect(Self.outOfOrder(simulation) > 0, report)
    }

    @Test(arguments: TestSeeds.seeds(count: 3))
    func reorderingHoldsBackTheConfiguredShare(seed: UInt64) {
        let link = LinkConditions(latency: .milliseconds(10), reordering: 0.25, reorderDelay: .milliseconds(3))
        let simulation = Self.run(link, seed: seed)
        let report = Comment(rawValue: TestSeeds.replayHint(seed))
        let late = Self.arrivals(simulation).filter {
            $0.time - (Instant.zero + .milliseconds(Int($0.text)!)) == .milliseconds(13)
        }.count
        #expect((400...600).contains(late), "\(late) held back at 25 %; \(report)")
        #expect(Self.outOfOrder(simulation) > 0, report)
    }

    @Test func anIdealLinkKeepsTheOrder() {
        let simulation = Self.run(LinkConditions(), seed: 1)
        #expect(Self.arrivals(simulation).map(\.text) == (0..<Self.count).map { "\($0)" })
    }

    /// How many datagrams arrived after one sent later than them.
    static func outOfOrder(_ simulation: Simulation) -> Int {
        let numbers = Self.arrivals(simulation).map { Int($0.text)! }
        return zip(numbers, numbers.dropFirst()).filter { $0 > $1 }.count
    }
}
