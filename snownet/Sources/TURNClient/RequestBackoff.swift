import FirezoneTime

/// When a request is retransmitted and when it is given up (Firezone's `backoff.rs`): the first timeout, then each
/// one 1.5 times the last, until the next retransmission would come after the budget.
struct RequestBackoff {
    let start: Instant
    let budget: Duration
    private(set) var interval: Duration
    private(set) var nextTrigger: Instant

    init(
        start: Instant,
        interval: Duration = TURNClientConstants.requestTimeout,
        budget: Duration = TURNClientConstants.requestBudget
    ) {
        self.start = start
        self.budget = budget
        self.interval = interval
        self.nextTrigger = start + interval
    }

    func isExpired(at now: Instant) -> Bool {
        now >= self.start + self.budget
    }

    /// Moves the next trigger on by the next interval. Nanosecond arithmetic keeps 1 s × 1.5ⁿ exact for n ≤ 9.
    mutating func advance() {
        self.interval = .nanoseconds(self.interval.nanoseconds * 3 / 2)
        self.nextTrigger = self.nextTrigger + self.interval
    }
}
