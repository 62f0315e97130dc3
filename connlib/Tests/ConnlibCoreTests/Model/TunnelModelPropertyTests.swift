import FirezoneTesting
import PropertyBased
import Testing

/// The tunnel's proof: random sequences of resource changes, packets, flow expiries and revocations, gateway and
/// client restarts, connection failures and roaming played on the real client and gateway states
/// (``SimulatedTunnel``) and on the reference model (``TunnelModel``); after every step the client's application must
/// see what the model says.
///
/// `make test` plays ``defaultSequenceCount`` sequences; `CONNLIB_MODEL_SEQUENCES=<n>` plays that many,
/// `SIMULATION_SEED=<seed>` the one that seed draws. A failure prints the seed, the sequence shrunk to the steps it
/// needs (Swift, to paste into ``regressions``) and the last things the tunnel did.
@Suite struct TunnelModelPropertyTests {
    static let countVariable = "CONNLIB_MODEL_SEQUENCES"
    static let defaultSequenceCount = 1_000

    static var sequenceCount: Int {
        getenv(Self.countVariable).flatMap { Int(String(cString: $0)) } ?? Self.defaultSequenceCount
    }

    static var generator: Generator<TunnelSequence, some SendableSequenceType> {
        TunnelSequence.generator
    }

    static func sequence(seed: UInt64) -> TunnelSequence {
        var generator = TunnelHarnessTests.generator(seed: seed)
        return Self.generator.run(using: &generator)
    }

    static func play(_ sequence: TunnelSequence) -> (failure: String?, report: String, agreed: TunnelObservation.Tally)
    {
        // The client's routes carry no filters (connlib at Firezone 685acdac3a ignores them on the client): the model
        // leaves filters to the gateways.
        var run = TunnelSequenceRun(
            sequence,
            model: TunnelModel(clientAppliesFilters: false),
            system: SimulatedTunnel(seed: sequence.seed)
        )
        let failure = run.play()
        return (failure, run.report, run.agreed)
    }

    @Test func theTunnelShowsWhatTheModelExpectsAfterEveryStep() {
        var steps = 0
        var agreed = TunnelObservation.Tally()
        let seeds = TestSeeds.seeds(count: Self.sequenceCount)
        for seed in seeds {
            let sequence = Self.sequence(seed: seed)
            steps += sequence.steps.count
            let played = Self.play(sequence)
            agreed.add(played.agreed)
            guard played.failure != nil else {
                continue
            }
            let shrunk = sequence.shrunk { Self.play($0).failure != nil }
            let (failure, report, _) = Self.play(shrunk)
            Issue.record(
                """
                \(TestSeeds.replayHint(seed)) (draws the sequence before shrinking)
                \(failure ?? "")
                shrunk sequence:
                \(shrunk.testDescription)
                \(report)
                """
            )
            return
        }
        print(
            "\(seeds.count) tunnel sequences, \(steps) steps: the tunnel agreed with the model after every step (\(agreed))"
        )
    }

    /// Shrunk sequences that once broke the tunnel.
    static let regressions: [TunnelSequence] = []

    @Test(arguments: Self.regressions)
    func regression(_ sequence: TunnelSequence) {
        let (failure, report, _) = Self.play(sequence)
        #expect(failure == nil, "\(failure ?? "")\n\(report)")
    }
}

#if canImport(Glibc)
import Glibc
#endif
