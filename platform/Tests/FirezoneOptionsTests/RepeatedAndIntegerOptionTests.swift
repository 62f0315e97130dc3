import FirezoneOptions
import Testing

/// Repeatable options (a flag given several times, or a comma-separated variable) and whole-number options.
struct RepeatedAndIntegerOptionTests {
    static let denied = OptionKey("denied peer range", flag: "--denied-peer-ip", variable: "DENIED_PEER_IPS")
    static let limit = OptionKey("allocation limit", flag: "--max-allocations", variable: "MAX_ALLOCATIONS")

    struct NotAWord: Error, CustomStringConvertible {
        var description: String { "not a word" }
    }

    /// Accepts lowercase words only.
    static func word(_ text: String) throws -> String {
        guard !text.isEmpty, text.allSatisfy(\.isLowercase) else {
            throw NotAWord()
        }
        return text
    }

    @Test func everyFlagIsKeptInOrderAndTheVariableIsIgnored() throws {
        let reader = OptionReader(environment: ["DENIED_PEER_IPS": "zzz"])
        #expect(try reader.values(Self.denied, flags: ["b", "a"], expected: "a word", Self.word) == ["b", "a"])
    }

    @Test func withoutAFlagTheVariableIsSplitAtCommas() throws {
        let reader = OptionReader(environment: ["DENIED_PEER_IPS": " b, a ,,c,"])
        #expect(try reader.values(Self.denied, flags: [], expected: "a word", Self.word) == ["b", "a", "c"])
    }

    @Test func neitherGivenIsEmpty() throws {
        let reader = OptionReader(environment: ["DENIED_PEER_IPS": ""])
        #expect(try reader.values(Self.denied, flags: [], expected: "a word", Self.word).isEmpty)
    }

    @Test func aBadItemNamesTheFlagTheVariableAndTheReason() {
        let message =
            "invalid denied peer range (--denied-peer-ip / DENIED_PEER_IPS): 'B'; expected a word (not a word)"
        #expect(throws: OptionError(message)) {
            try OptionReader(environment: [:]).values(Self.denied, flags: ["a", "B"], expected: "a word", Self.word)
        }
        #expect(throws: OptionError(message)) {
            try OptionReader(environment: ["DENIED_PEER_IPS": "a,B"])
                .values(Self.denied, flags: [], expected: "a word", Self.word)
        }
    }

    @Test func aWholeNumberInRange() throws {
        let reader = OptionReader(environment: ["MAX_ALLOCATIONS": "16"])
        #expect(try reader.integer(Self.limit, flag: nil, in: 1...100) == 16)
        #expect(try reader.integer(Self.limit, flag: "100", in: 1...100) == 100)
        #expect(try OptionReader(environment: [:]).integer(Self.limit, flag: nil, in: 1...100) == nil)
    }

    @Test(arguments: ["0", "101", "-1", "+5", "1e2", "1_000", " 5", "five", ""])
    func anythingElseIsAUsageError(text: String) {
        let message =
            "invalid allocation limit (--max-allocations / MAX_ALLOCATIONS): '\(text)'; expected a whole "
            + "number from 1 to 100"
        #expect(throws: OptionError(message)) {
            try OptionReader(environment: [:]).integer(Self.limit, flag: text, in: 1...100)
        }
    }
}
