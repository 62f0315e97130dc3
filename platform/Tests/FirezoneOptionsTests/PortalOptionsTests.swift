import FirezoneOptions
import Testing

/// The portal options of the relay and the gateway.
struct PortalOptionsTests {
    @Test func withoutATokenThereAreNoPortalOptions() throws {
        let reader = OptionReader(environment: ["FIREZONE_API_URL": "ws://portal:8081"])
        #expect(try PortalOptions.resolve(.init(), reader: reader, defaultPartitionTime: .seconds(900)) == nil)
    }

    @Test func theEnvironmentGivesEveryOption() throws {
        let reader = OptionReader(environment: [
            "FIREZONE_TOKEN": "t0k3n", "FIREZONE_API_URL": "ws://portal:8081", "FIREZONE_NAME": "relay-1",
            "FIREZONE_MAX_PARTITION_TIME": "1h",
        ])
        let options = try #require(try PortalOptions.resolve(.init(), reader: reader, defaultPartitionTime: nil))
        #expect(options.token.exposedValue == "t0k3n")
        #expect(options.token.source == .variable("FIREZONE_TOKEN"))
        #expect(options.apiURL == "ws://portal:8081")
        #expect(options.name == "relay-1")
        #expect(options.maxPartitionTime == .seconds(3600))
    }

    @Test func flagsWinAndDefaultsFillIn() throws {
        let reader = OptionReader(environment: ["FIREZONE_TOKEN": "env", "FIREZONE_NAME": "env-name"]) {
            path throws(OptionReader.FileReadError) in
            guard path == "/run/token" else { throw .init(reason: "No such file or directory") }
            return Array("file-token\n".utf8)
        }
        let flags = PortalOptions.Flags(tokenFile: "/run/token", name: "flag-name")
        let options = try #require(
            try PortalOptions.resolve(flags, reader: reader, defaultPartitionTime: .seconds(900))
        )
        #expect(options.token.exposedValue == "file-token")
        #expect(options.apiURL == PortalOptions.defaultAPIURL)
        #expect(options.name == "flag-name")
        #expect(options.maxPartitionTime == .seconds(900))
    }

    @Test func theTokenFileVariableIsRead() throws {
        let reader = OptionReader(environment: ["FIREZONE_TOKEN_FILE": "/t"]) { _ throws(OptionReader.FileReadError) in
            Array("from-file".utf8)
        }
        let options = try #require(try PortalOptions.resolve(.init(), reader: reader, defaultPartitionTime: nil))
        #expect(options.token.exposedValue == "from-file")
        #expect(options.maxPartitionTime == nil)
    }

    @Test func aBadPartitionTimeIsAUsageErrorEvenWithoutAToken() {
        let reader = OptionReader(environment: ["FIREZONE_MAX_PARTITION_TIME": "soon"])
        let message =
            "invalid maximum partition time (--max-partition-time / FIREZONE_MAX_PARTITION_TIME): 'soon'; "
            + "expected a duration such as 900s, 15m or 1h (a number is expected before each unit)"
        #expect(throws: OptionError(message)) {
            try PortalOptions.resolve(.init(), reader: reader, defaultPartitionTime: nil)
        }
    }

    @Test func theHeadlessClientsKeysAreHonoured() throws {
        var keys = PortalOptions.Keys.standard
        keys.maxPartitionTime = OptionKey(
            "maximum partition time",
            flag: "--max-partition-time",
            variable: "MAX_PARTITION_TIME"
        )
        let reader = OptionReader(environment: ["FIREZONE_TOKEN": "t", "MAX_PARTITION_TIME": "2d"])
        let options = try #require(
            try PortalOptions.resolve(.init(), reader: reader, keys: keys, defaultPartitionTime: nil)
        )
        #expect(options.maxPartitionTime == .seconds(172_800))
    }
}
