import FirezoneTime

/// The impairments of a host's access link, applied to every datagram that crosses it in either direction
/// (Linux netem's `delay`, `loss`, `duplicate` and `reorder`), drawn from the simulation's seeded generator.
public struct LinkConditions: Sendable, Hashable {
    /// The fixed one-way delay.
    public var latency: Duration
    /// Extra delay drawn uniformly from `0...jitter` per datagram; datagrams may overtake each other.
    public var jitter: Duration
    /// The probability that a datagram is dropped.
    public var loss: Double
    /// The probability that a datagram arrives twice (the copy with its own jitter).
    public var duplication: Double
    /// The probability that a datagram is held back by ``reorderDelay``, so that later ones overtake it.
    public var reordering: Double
    public var reorderDelay: Duration

    public init(
        latency: Duration = .milliseconds(10),
        jitter: Duration = .zero,
        loss: Double = 0,
        duplication: Double = 0,
        reordering: Double = 0,
        reorderDelay: Duration = .milliseconds(20)
    ) {
        precondition((0...1).contains(loss) && (0...1).contains(duplication) && (0...1).contains(reordering))
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self.duplication = duplication
        self.reordering = reordering
        self.reorderDelay = reorderDelay
    }

    /// The delays of the copies of one datagram that cross the link: none when it is lost, two when duplicated.
    func delays(using rng: inout SeededRandomNumberGenerator) -> [Duration] {
        if self.loss > 0, Double.random(in: 0..<1, using: &rng) < self.loss {
            return []
        }
        let first = self.delay(using: &rng)
        if self.duplication > 0, Double.random(in: 0..<1, using: &rng) < self.duplication {
            return [first, self.delay(using: &rng)]
        }
        return [first]
    }

    private func delay(using rng: inout SeededRandomNumberGenerator) -> Duration {
        var delay = self.latency
        if self.jitter > .zero {
            delay += .nanoseconds(Int64.random(in: 0...self.jitter.nanoseconds, using: &rng))
        }
        if self.reordering > 0, Double.random(in: 0..<1, using: &rng) < self.reordering {
            delay += self.reorderDelay
        }
        return delay
    }
}
