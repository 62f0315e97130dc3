/// Plays a ``TunnelSequence`` on the reference model and a system under test side by side and compares, after every
/// step, what the client's application saw with what the model expects.
struct TunnelSequenceRun<System: TunnelSystem> {
    let sequence: TunnelSequence
    private(set) var model: TunnelModel
    private(set) var system: System
    /// One line per step: the step, the action it became, what was observed.
    private(set) var log: [String] = []
    /// How many observations of each kind agreed with the model: the sequences' coverage.
    private(set) var agreed = TunnelObservation.Tally()

    init(_ sequence: TunnelSequence, model: TunnelModel = TunnelModel(), system: System) {
        self.sequence = sequence
        self.model = model
        self.system = system
    }

    /// The first disagreement, with the step it happened at; `nil` when the whole sequence agrees.
    mutating func play() -> String? {
        for (index, step) in self.sequence.steps.enumerated() {
            guard let action = self.model.resolve(step) else {
                self.log.append("\(index): \(step) (nothing to act on)")
                continue
            }
            let expectation = self.model.expect(action)
            let observed = self.system.perform(action)
            self.log.append("\(index): \(step) → \(action): \(observed)")
            if let mismatch = self.model.check(observed, against: expectation) {
                return "step \(index) \(step) (\(action)): \(mismatch)"
            }
            self.agreed.count(observed)
        }
        return nil
    }

    var report: String {
        (["steps:"] + self.log + ["system:", self.system.report]).joined(separator: "\n")
    }
}

extension TunnelSequence {
    /// A smaller sequence that still fails: steps are dropped, in halves, then quarters, down to one at a time, as
    /// long as `fails` holds (Zeller's delta debugging, ddmin, without its complement step); the result fails and
    /// loses its failure when any single step is dropped.
    func shrunk(while fails: (TunnelSequence) -> Bool) -> TunnelSequence {
        var current = self
        var chunk = max(1, current.steps.count / 2)
        while true {
            var start = 0
            var removedAny = false
            while start < current.steps.count {
                var candidate = current
                candidate.steps.removeSubrange(start..<min(start + chunk, current.steps.count))
                if fails(candidate) {
                    current = candidate
                    removedAny = true
                } else {
                    start += chunk
                }
            }
            if chunk == 1 && !removedAny {
                return current
            }
            chunk = max(1, removedAny ? chunk : chunk / 2)
        }
    }
}
