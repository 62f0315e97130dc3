import FirezoneOptions
import Testing

/// humantime's duration syntax, as Firezone's binaries accept it.
struct HumanDurationTests {
    @Test(arguments: [
        ("900s", Duration.seconds(900)),
        ("15m", .seconds(900)),
        ("1h", .seconds(3600)),
        ("1d", .seconds(86_400)),
        ("2w", .seconds(1_209_600)),
        ("250ms", .milliseconds(250)),
        ("10us", .microseconds(10)),
        ("7ns", .nanoseconds(7)),
        ("1h 30m", .seconds(5400)),
        ("1h30m15s", .seconds(5415)),
        ("15 minutes", .seconds(900)),
        ("2 hours", .seconds(7200)),
        ("1sec", .seconds(1)),
        (" 5s ", .seconds(5)),
        ("0s", .zero),
    ])
    func parses(text: String, expected: Duration) throws {
        #expect(try HumanDuration.parse(text) == expected)
    }

    @Test(arguments: [
        ("", HumanDuration.ParseError.empty),
        ("   ", .empty),
        ("900", .unitNeeded),
        ("15m 30", .unitNeeded),
        ("15x", .unknownUnit("x")),
        ("1month", .unknownUnit("month")),
        ("1H", .unknownUnit("H")),
        ("m", .numberExpected),
        ("-5s", .unexpectedCharacter("-")),
        ("1.5h", .unexpectedCharacter(".")),
        ("15m,30s", .unexpectedCharacter(",")),
        ("99999999999999999999s", .tooLarge),
        ("9999999999999w", .tooLarge),
        ("9223372036s 9223372036s", .tooLarge),
    ])
    func refuses(text: String, error: HumanDuration.ParseError) {
        #expect(throws: error) { try HumanDuration.parse(text) }
    }

    @Test func errorsReadAsWords() {
        #expect("\(HumanDuration.ParseError.unitNeeded)" == "a unit is needed")
        #expect("\(HumanDuration.ParseError.unknownUnit("x"))" == "unknown unit 'x'")
        #expect("\(HumanDuration.ParseError.numberExpected)" == "a number is expected before each unit")
        #expect("\(HumanDuration.ParseError.tooLarge)" == "too large")
        #expect("\(HumanDuration.ParseError.empty)" == "empty")
        #expect("\(HumanDuration.ParseError.unexpectedCharacter("."))" == "unexpected '.'")
    }
}
