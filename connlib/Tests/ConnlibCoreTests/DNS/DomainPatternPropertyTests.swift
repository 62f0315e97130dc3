import ConnlibCore
import FirezoneTesting
import Testing

/// The matcher against a plain recursive reading of the glob rules, on random patterns and names over a small
/// alphabet, where `*`, `**` and `?` collide often.
@Suite struct DomainPatternPropertyTests {
    @Test(arguments: TestSeeds.seeds(count: 8))
    func theMatcherAgreesWithARecursiveReferenceOnRandomPatterns(_ seed: UInt64) throws {
        var random = SeededRandomNumberGenerator(seed: seed)
        for _ in 0..<2000 {
            let patternLabels = (0..<Int.random(in: 1...4, using: &random)).map { _ in Self.patternLabel(&random) }
            let nameLabels = (0..<Int.random(in: 1...5, using: &random)).map { _ in
                String((0..<Int.random(in: 1...3, using: &random)).map { _ in "ab".randomElement(using: &random)! })
            }
            let pattern = try DomainPattern(patternLabels.joined(separator: "."))
            let name = try DomainName(nameLabels.joined(separator: "."))
            let expected = Self.reference(patternLabels, nameLabels)
            #expect(
                pattern.matches(name) == expected,
                "\(pattern) against \(name), \(TestSeeds.replayHint(seed))"
            )
        }
    }

    /// `**`, or one to three characters of `a`, `b`, `*`, `?` without two stars in a row.
    private static func patternLabel(_ random: inout SeededRandomNumberGenerator) -> String {
        if Int.random(in: 0..<5, using: &random) == 0 {
            return "**"
        }
        var label = ""
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            var character = "ab*?".randomElement(using: &random)!
            if character == "*", label.last == "*" {
                character = "a"
            }
            label.append(character)
        }
        return label
    }

    private static func reference(_ pattern: [String], _ name: [String]) -> Bool {
        // `*.x` also matches `x`, compared literally.
        if pattern.count > 1, pattern[0] == "*", Array(pattern.dropFirst()) == name {
            return true
        }
        return matchLabels(pattern[...], name[...])
    }

    private static func matchLabels(_ pattern: ArraySlice<String>, _ name: ArraySlice<String>) -> Bool {
        guard let first = pattern.first else {
            return name.isEmpty
        }
        if first == "**" {
            // None, or one more label, taken by the recursive wildcard.
            return matchLabels(pattern.dropFirst(), name) || (!name.isEmpty && matchLabels(pattern, name.dropFirst()))
        }
        guard let label = name.first else {
            return false
        }
        return matchCharacters(Array(first)[...], Array(label)[...])
            && matchLabels(pattern.dropFirst(), name.dropFirst())
    }

    private static func matchCharacters(_ glob: ArraySlice<Character>, _ label: ArraySlice<Character>) -> Bool {
        guard let first = glob.first else {
            return label.isEmpty
        }
        switch first {
        case "*":
            return matchCharacters(glob.dropFirst(), label)
                || (!label.isEmpty && matchCharacters(glob, label.dropFirst()))
        case "?":
            return !label.isEmpty && matchCharacters(glob.dropFirst(), label.dropFirst())
        default:
            return label.first == first && matchCharacters(glob.dropFirst(), label.dropFirst())
        }
    }
}
