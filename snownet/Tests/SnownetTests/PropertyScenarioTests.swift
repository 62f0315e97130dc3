import FirezoneTesting
import PropertyBased
import Testing

/// Random event sequences (``EventSequence``: upserts, removals, closes, candidates good and bad, relay changes,
/// resets, traffic, loss, NAT kinds, time jumps, strangers) played on the simulated network; every invariant of
/// ``EventSequenceRun`` is checked after every step.
///
/// `make test` plays 100 fixed sequences; `SNOWNET_PROPERTY_SEQUENCES=5000` plays that many (a nightly run);
/// `SIMULATION_SEED=<seed>` plays the one sequence that seed draws. A sequence's seed seeds swift-property-based's
/// own generator (xoshiro256**, its four words drawn from the seed by SplitMix64), so the seed names the sequence.
/// When one breaks an invariant, the library's fixed-seed trait makes `propertyCheck` draw that same sequence and
/// shrink it: the failure shows the smallest sequence found, the original one, and the seed to replay.
@Suite struct PropertyScenarioTests {
    static let countVariable = "SNOWNET_PROPERTY_SEQUENCES"

    static var sequenceCount: Int {
        getenv(Self.countVariable).flatMap { Int(String(cString: $0)) } ?? 100
    }

    /// The library's generator for a sequence's seed.
    static func generator(seed: UInt64) -> Xoshiro {
        var splitMix = FirezoneTesting.SeededRandomNumberGenerator(seed: seed)
        return Xoshiro(seed: (splitMix.next(), splitMix.next(), splitMix.next(), splitMix.next()))
    }

    @Test func randomEventSequencesKeepTheInvariants() async {
        var steps = 0
        let seeds = TestSeeds.seeds(count: Self.sequenceCount)
        for seed in seeds {
            var generator = Self.generator(seed: seed)
            let sequence = EventSequence.generator.run(using: &generator)
            var run = EventSequenceRun(sequence)
            steps += sequence.steps.count
            if run.play().isEmpty {
                continue
            }
            let state = Self.generator(seed: seed).currentState
            let fixedSeed = FixedSeedTrait.fixedSeed(state.0, state.1, state.2, state.3)
            await fixedSeed.provideScope(for: Test.current!, testCase: Test.Case.current) {
                await propertyCheck(input: EventSequence.generator) { sequence in
                    var run = EventSequenceRun(sequence)
                    let violations = run.play()
                    let text = violations.joined(separator: "\n")
                    #expect(
                        violations.isEmpty,
                        """
                        \(TestSeeds.replayHint(seed)) (draws the sequence before shrinking); the shrunk one below \
                        can be pasted into PropertyScenarioTests.regressions
                        \(text)
                        \(run.report)
                        """
                    )
                }
            }
            return
        }
        print("\(seeds.count) event sequences, \(steps) steps: every invariant held")
    }

    /// Shrunk sequences that once broke an invariant.
    static let regressions: [EventSequence] = [
        // The client's relay comes back while its link is down; its new connection got the gateway's candidates
        // before it had a local one. The host candidate the new allocation reports must start checks at once
        // (the connection had no deadline), or it connects, or fails, never.
        EventSequence(
            seed: 11_677_365_107_290_833_533,
            client: .symmetric,
            gateway: .publicInternet,
            relays: 1,
            steps: [
                .connect(fresh: false),
                .loss(host: 0, percent: 100),
                .relays(.client, .replaceCredentials(relay: 0)),
                .upsert(.client, fresh: true),
                .wait(milliseconds: 9125),
            ]
        ),
        // The client replaces its connection while the gateway's checks are under way: one of the gateway's pairs
        // succeeded, none was nominated, every other one failed. The gateway's connection must fail (or connect);
        // its ICE agent, controlled, has no timer left and waits for a nomination that never comes.
        EventSequence(
            seed: 10_733_441_327_410_798_904,
            client: .fullCone,
            gateway: .symmetric,
            relays: 1,
            steps: [
                .connect(fresh: false),
                .wait(milliseconds: 40),
                .upsert(.client, fresh: true),
            ]
        ),
        // The gateway learns the client's key, then the client resets: the gateway's connection nominates a pair
        // and never gets a handshake it can take. It must fail while the links are good, not idle on for minutes.
        EventSequence(
            seed: 15_676_263_082_555_360_515,
            client: .fullCone,
            gateway: .symmetric,
            relays: 1,
            steps: [
                .upsert(.gateway, fresh: false),
                .reset(.client),
                .upsert(.client, fresh: false),
            ]
        ),
    ]

    @Test(arguments: Self.regressions)
    func regression(_ sequence: EventSequence) {
        var run = EventSequenceRun(sequence)
        let violations = run.play()
        #expect(violations.isEmpty, "\(violations)\n\(run.report)")
    }
}

#if canImport(Glibc)
import Glibc
#endif
