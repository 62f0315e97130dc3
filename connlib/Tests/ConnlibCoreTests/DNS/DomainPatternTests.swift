import ConnlibCore
import Testing

@Suite struct DomainPatternTests {
    private func matches(_ pattern: String, _ name: String) throws -> Bool {
        try DomainPattern(pattern).matches(try DomainName(name))
    }

    @Test func aLiteralPatternMatchesOnlyThatName() throws {
        #expect(try matches("app.example.com", "app.example.com"))
        #expect(!(try matches("app.example.com", "api.example.com")))
        #expect(!(try matches("app.example.com", "x.app.example.com")))
        #expect(!(try matches("app.example.com", "example.com")))
    }

    @Test func aStarLabelMatchesExactlyOneLabel() throws {
        #expect(try matches("*.example.com", "foo.example.com"))
        #expect(try matches("foo.*.example.com", "foo.bar.example.com"))
        #expect(try matches("app.*.*.example.com", "app.foo.bar.example.com"))
        #expect(!(try matches("app.*.example.com", "app.foo.bar.example.com")))
    }

    @Test func aStarInsideALabelNeverCrossesADot() throws {
        #expect(try matches("*ample.com", "example.com"))
        #expect(try matches("*ample.com", "ample.com"))
        #expect(!(try matches("app.*com", "app.foo.com")))
    }

    @Test func aStarPatternAlsoMatchesTheNameWithoutItsFirstLabel() throws {
        #expect(try matches("*.example.com", "example.com"))
        #expect(!(try matches("*.example.com", "com")))
        // The rest is compared literally: `*.*.example.com` does not match `foo.example.com` by this rule.
        #expect(!(try matches("*.*.example.com", "foo.example.com")))
    }

    @Test func aDoubleStarMatchesAnyNumberOfLabelsIncludingNone() throws {
        #expect(try matches("**.example.com", "example.com"))
        #expect(try matches("**.example.com", "foo.example.com"))
        #expect(try matches("**.example.com", "foo.bar.example.com"))
        #expect(try matches("app.**.example.com", "app.bar.foo.example.com"))
        #expect(try matches("app.**.web.**.example.com", "app.web.example.com"))
        #expect(try matches("app.**.web.**.example.com", "app.a.b.web.c.example.com"))
        #expect(!(try matches("app.**.web.**.example.com", "app.a.b.c.example.com")))
        #expect(!(try matches("**.example.com", "example.org")))
    }

    @Test func aQuestionMarkMatchesOneCharacterButNotADot() throws {
        #expect(try matches("app.f??.example.com", "app.foo.example.com"))
        #expect(!(try matches("app.f??.example.com", "app.fo.example.com")))
        #expect(!(try matches("app?com", "app.com")))
        #expect(try matches("*?*.example.com", "app.example.com"))
    }

    @Test func matchingIgnoresCase() throws {
        #expect(try matches("GitLab.*.Corp", "gitlab.eu.corp"))
        #expect(try matches("gitlab.corp", "GITLAB.CORP"))
        #expect((try DomainPattern("GitLab.Corp")).description == "gitlab.corp")
    }

    @Test func containsIsTheSameRelationAsMatches() throws {
        let pattern = try DomainPattern("**.corp")
        for name in ["corp", "a.corp", "a.b.corp", "corp.example"] {
            let domain = try DomainName(name)
            #expect(pattern.contains(domain) == pattern.matches(domain))
        }
    }

    @Test func malformedPatternsAreTypedErrors() {
        #expect(throws: DomainPatternError.empty) { try DomainPattern("") }
        #expect(throws: DomainPatternError.emptyLabel) { try DomainPattern("a..corp") }
        #expect(throws: DomainPatternError.recursiveWildcardInsideLabel) { try DomainPattern("a**.corp") }
        #expect(throws: DomainPatternError.recursiveWildcardInsideLabel) { try DomainPattern("***.corp") }
        #expect(throws: DomainPatternError.invalidCharacter(UInt8(ascii: "["))) { try DomainPattern("[ab].corp") }
        #expect(throws: DomainPatternError.invalidCharacter(UInt8(ascii: " "))) { try DomainPattern("a b.corp") }
    }

    /// The order of Firezone's `pattern_ordering` test (rust/connlib/tunnel/src/dns.rs).
    @Test func patternsSortFromMostToLeastSpecific() throws {
        let expected = [
            "example.com",  // shorter first
            "bar.example.com",  // lexical among literals
            "*.bar.example.com",  // the lexical order of the suffix comes before the wildcard
            "foo.example.com",
            "?.example.com",  // `?` before `*`
            "*.example.com",
            "**.example.com",  // the double star last among `.example.com`
            "*ample.com",  // a literal suffix before a wildcard
            "*.com",  // wildcards after all literals
        ]
        let shuffled = [8, 3, 0, 6, 1, 7, 4, 2, 5].map { expected[$0] }
        let sorted = try shuffled.map { try DomainPattern($0) }.sorted().map(\.text)
        #expect(sorted == expected)
    }

    @Test func theMoreSpecificOfTwoMatchingPatternsIsTheLiteralOne() throws {
        let literal = try DomainPattern("foo.example.com")
        let wildcard = try DomainPattern("**.example.com")
        #expect(DomainPattern.isMoreSpecific(literal, wildcard))
        #expect(!DomainPattern.isMoreSpecific(wildcard, literal))
        #expect(!DomainPattern.isMoreSpecific(literal, literal))
    }
}
