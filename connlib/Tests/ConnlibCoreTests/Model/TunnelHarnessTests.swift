import FirezoneTesting
import PropertyBased
import Testing

/// The harness around the reference model: the generator, the runner, the shrinker, checked on a tunnel that answers
/// from a model of its own, whole or with one rule broken.
@Suite struct TunnelHarnessTests {
    static func generator(seed: UInt64) -> Xoshiro {
        var splitMix = FirezoneTesting.SeededRandomNumberGenerator(seed: seed)
        return Xoshiro(seed: (splitMix.next(), splitMix.next(), splitMix.next(), splitMix.next()))
    }

    static func sequence(seed: UInt64) -> TunnelSequence {
        var generator = Self.generator(seed: seed)
        return TunnelSequence.generator.run(using: &generator)
    }

    static func fails(_ sequence: TunnelSequence, _ mutation: ModelledTunnel.Mutation) -> Bool {
        var run = TunnelSequenceRun(sequence, system: ModelledTunnel(mutation: mutation))
        return run.play() != nil
    }

    @Test func theModelAcceptsTheAnswersItsOwnRulesGive() {
        for seed in TestSeeds.seeds(count: 500) {
            let sequence = Self.sequence(seed: seed)
            var run = TunnelSequenceRun(sequence, system: ModelledTunnel(mutation: .none))
            if let failure = run.play() {
                Issue.record("\(TestSeeds.replayHint(seed)): \(failure)\n\(sequence.testDescription)\n\(run.report)")
                return
            }
        }
    }

    @Test func theGeneratorDrawsEveryKindOfStep() {
        var kinds = Set<String>()
        for seed in TestSeeds.seeds(count: 100) {
            for step in Self.sequence(seed: seed).steps {
                kinds.insert(String(step.description.prefix { $0 != "(" }))
            }
        }
        #expect(
            kinds == [
                ".upsert", ".remove", ".revoke", ".setInternetResourceActive", ".send", ".query", ".reverseQuery",
                ".recordQuery", ".llmnr", ".setPortalUpstream", ".expireFlows", ".extendFlows",
                ".restartGateway", ".setGatewayOnline", ".restartClient", ".connectionFailure", ".roam", ".idle",
            ]
        )
    }

    @Test(arguments: ModelledTunnel.Mutation.allCases.filter { $0 != .none })
    func aBrokenRuleIsCaughtAndShrunkToAFewSteps(_ mutation: ModelledTunnel.Mutation) throws {
        let seed = try #require(
            (0..<UInt64(5_000)).lazy.map { $0 &* 0x9E37_79B9 &+ 1 }.first {
                Self.fails(Self.sequence(seed: $0), mutation)
            }
        )
        let original = Self.sequence(seed: seed)
        let shrunk = original.shrunk { Self.fails($0, mutation) }
        #expect(Self.fails(shrunk, mutation))
        #expect(shrunk.steps.count <= 5, "\(shrunk.testDescription)")
        for index in shrunk.steps.indices {
            var smaller = shrunk
            smaller.steps.remove(at: index)
            #expect(!Self.fails(smaller, mutation), "step \(index) of the shrunk sequence is not needed")
        }
    }
}
