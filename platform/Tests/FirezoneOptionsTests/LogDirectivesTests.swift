import FirezoneOptions
import Logging
import Testing

/// `RUST_LOG` directives reduced to the level that applies to our targets.
struct LogDirectivesTests {
    static let relay = ["firezone_relay"]

    @Test(arguments: [
        ("info", Logger.Level.info),
        ("DEBUG", .debug),
        ("warn", .warning),
        ("error", .error),
        ("trace", .trace),
        ("off", .critical),
        ("4", .debug),
        ("0", .critical),
        ("firezone_relay=debug,warn", .debug),
        ("warn,firezone_relay=debug", .debug),
        ("str0m=trace,warn", .warning),
        ("str0m=trace", .info),
        ("firezone=debug,firezone_relay=error", .error),
        ("firezone_relay=error,firezone=debug", .error),
        ("firezone=debug", .debug),
        ("firezone_relay", .trace),
        ("firezone_relay=info,firezone_relay=trace", .trace),
        ("firezone_relay::server=trace", .info),
        ("firezone_relay[span{id=1}]=trace,warn", .warning),
        (" firezone_relay = debug , warn ", .debug),
        (" warn , firezone_relay=debug ", .debug),
        (",,", .info),
        ("", .info),
        ("info,debug", .debug),
    ])
    func levelThatAppliesToUs(directives: String, expected: Logger.Level) throws {
        #expect(try LogDirectives.level(of: directives, for: Self.relay) == expected)
    }

    @Test(arguments: ["firezone_relay=loud", "=debug", "firezone_relay=", "str0m=verbose,info"])
    func refusesABadLevel(directives: String) {
        #expect(throws: LogDirectives.ParseError.self) { try LogDirectives.level(of: directives, for: Self.relay) }
    }

    @Test func theErrorQuotesTheDirective() {
        let error = LogDirectives.ParseError(directive: "a=b")
        #expect(
            "\(error)"
                == "invalid directive 'a=b'; expected LEVEL, TARGET=LEVEL or TARGET with a level of off, error, "
                + "warn, info, debug or trace"
        )
    }
}
