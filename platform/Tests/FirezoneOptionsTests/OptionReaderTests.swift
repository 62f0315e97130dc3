import FirezoneOptions
import Testing

/// Flags, environment variables and defaults, and the usage errors that name both spellings.
struct OptionReaderTests {
    static let port = OptionKey("listen port", flag: "--listen-port", variable: "LISTEN_PORT")
    static let partition = OptionKey(
        "maximum partition time",
        flag: "--max-partition-time",
        variable: "FIREZONE_MAX_PARTITION_TIME"
    )

    @Test func aFlagWinsOverItsVariable() throws {
        let reader = OptionReader(environment: ["LISTEN_PORT": "3478"])
        #expect(try reader.port(Self.port, flag: "4000") == 4000)
    }

    @Test func theVariableIsReadWithoutAFlag() throws {
        let reader = OptionReader(environment: ["LISTEN_PORT": "3478"])
        #expect(try reader.port(Self.port, flag: nil) == 3478)
    }

    @Test func neitherGivenIsNil() throws {
        #expect(try OptionReader(environment: [:]).port(Self.port, flag: nil) == nil)
    }

    @Test func anEmptyVariableCountsAsUnset() throws {
        let reader = OptionReader(environment: ["LISTEN_PORT": ""])
        #expect(try reader.port(Self.port, flag: nil) == nil)
        #expect(reader.variable("LISTEN_PORT") == nil)
    }

    @Test func anotherVariableIsNotConsulted() throws {
        let reader = OptionReader(environment: ["FIREZONE_LISTEN_PORT": "3478"])
        #expect(try reader.port(Self.port, flag: nil) == nil)
    }

    @Test(arguments: ["0", "65536", "-1", "port", ""])
    func aBadPortNamesTheFlagAndTheVariable(text: String) {
        let reader = OptionReader(environment: [:])
        let message = "invalid listen port (--listen-port / LISTEN_PORT): '\(text)'; expected a port from 1 to 65535"
        #expect(throws: OptionError(message)) {
            try reader.port(Self.port, flag: text)
        }
    }

    @Test func aBadVariableIsReportedLikeABadFlag() {
        let reader = OptionReader(environment: ["LISTEN_PORT": "x"])
        let message = "invalid listen port (--listen-port / LISTEN_PORT): 'x'; expected a port from 1 to 65535"
        #expect(throws: OptionError(message)) {
            try reader.port(Self.port, flag: nil)
        }
    }

    @Test func aTypedValueUsesItsParser() throws {
        let key = OptionKey("mode", flag: "--mode", variable: "MODE")
        let reader = OptionReader(environment: ["MODE": "generic"])
        let mode = { (text: String) in ["driver", "generic"].contains(text) ? text : nil }
        #expect(try reader.value(key, flag: nil, expected: "driver or generic", mode) == "generic")
        #expect(throws: OptionError("invalid mode (--mode / MODE): 'skb'; expected driver or generic")) {
            try reader.value(key, flag: "skb", expected: "driver or generic", mode)
        }
    }

    @Test func durationsComeFromTheFlagOrTheVariable() throws {
        let reader = OptionReader(environment: ["FIREZONE_MAX_PARTITION_TIME": "1h"])
        #expect(try reader.duration(Self.partition, flag: nil) == .seconds(3600))
        #expect(try reader.duration(Self.partition, flag: "90s") == .seconds(90))
    }

    @Test func aBareNumberIsNotADuration() {
        let reader = OptionReader(environment: ["FIREZONE_MAX_PARTITION_TIME": "900"])
        let message =
            "invalid maximum partition time (--max-partition-time / FIREZONE_MAX_PARTITION_TIME): '900'; "
            + "expected a duration such as 900s, 15m or 1h (a unit is needed)"
        #expect(throws: OptionError(message)) { try reader.duration(Self.partition, flag: nil) }
    }

    @Test func aZeroDurationIsRefused() {
        let reader = OptionReader(environment: [:])
        let message =
            "invalid maximum partition time (--max-partition-time / FIREZONE_MAX_PARTITION_TIME): '0s'; "
            + "expected a duration above zero, such as 900s, 15m or 1h"
        #expect(throws: OptionError(message)) { try reader.duration(Self.partition, flag: "0s") }
    }

    @Test func theLogLevelComesFromRustLog() throws {
        #expect(try OptionReader(environment: [:]).logLevel(for: ["firezone_relay"]) == .info)
        #expect(try OptionReader(environment: ["RUST_LOG": ""]).logLevel(for: ["firezone_relay"]) == .info)
        let reader = OptionReader(environment: ["RUST_LOG": "firezone_relay=debug,warn"])
        #expect(try reader.logLevel(for: ["firezone_relay"]) == .debug)
        #expect(try reader.logLevel(for: ["firezone_gateway"]) == .warning)
    }

    @Test func aBadRustLogIsAUsageError() {
        let reader = OptionReader(environment: ["RUST_LOG": "firezone_relay=loud"])
        let message =
            "invalid log filter (RUST_LOG): invalid directive 'firezone_relay=loud'; expected LEVEL, "
            + "TARGET=LEVEL or TARGET with a level of off, error, warn, info, debug or trace"
        #expect(throws: OptionError(message)) { try reader.logLevel(for: ["firezone_relay"]) }
    }

    @Test func theProcessEnvironmentIsReadWhole() {
        let environment = OptionReader.processEnvironment()
        #expect(environment["PATH"] != nil)
    }
}
