import Connlib
import FirezoneOptions
import HeadlessClient
import Logging
import Testing

struct HeadlessClientOptionsTests {
    static func options(
        _ environment: [String: String],
        flags: HeadlessClientOptions.Flags = .init()
    ) throws(OptionError) -> HeadlessClientOptions {
        try HeadlessClientOptions(flags, reader: OptionReader(environment: environment))
    }

    @Test func tokenComesFromTheVariable() throws {
        let options = try Self.options(["FIREZONE_TOKEN": "abc"])
        #expect(options.token.exposedValue == "abc")
        #expect(options.apiURL == "wss://api.firezone.dev")
        #expect(options.dnsControl == .systemdResolved)
        #expect(options.activateInternetResource)
        #expect(options.maxPartitionTime == nil)
        #expect(options.statusPath == HeadlessClientOptions.defaultStatusPath)
        #expect(options.idPath == HeadlessClientOptions.defaultIDPath)
    }

    @Test func tokenFileOnlyItsOwnerMayReadIsRead() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.write("secret-token\n", to: "token", mode: 0o600)

        let options = try Self.options(["FIREZONE_TOKEN_PATH": path])

        #expect(options.token.exposedValue == "secret-token")
    }

    @Test(arguments: [0o640, 0o604, 0o620, 0o602] as [UInt32])
    func tokenFileOthersMayReadOrWriteIsRefused(mode: UInt32) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.write("secret-token\n", to: "token", mode: mode)

        let error = #expect(throws: OptionError.self) { try Self.options(["FIREZONE_TOKEN_PATH": path]) }

        let message = try #require(error).description
        #expect(message.contains("chmod 600 \(path)"))
        #expect(message.contains("FIREZONE_TOKEN_PATH"))
        #expect(!message.contains("secret-token"))
    }

    @Test func missingTokenNamesTheVariableAndTheFile() throws {
        var flags = HeadlessClientOptions.Flags()
        flags.tokenPath = "/nonexistent/token"

        let error = #expect(throws: OptionError.self) { try Self.options([:], flags: flags) }

        let message = try #require(error).description
        #expect(message.contains("FIREZONE_TOKEN"))
        #expect(message.contains("/nonexistent/token"))
    }

    @Test func tokenVariableAndTokenFileTogetherAreRefused() {
        var flags = HeadlessClientOptions.Flags()
        flags.tokenPath = "/tmp/token"
        #expect(throws: OptionError.self) { try Self.options(["FIREZONE_TOKEN": "abc"], flags: flags) }
        #expect(throws: OptionError.self) {
            try Self.options(["FIREZONE_TOKEN": "abc", "FIREZONE_TOKEN_PATH": "/tmp/token"])
        }
    }

    @Test(arguments: DNSControlMethod.allCases)
    func dnsControlTakesEachMethod(method: DNSControlMethod) throws {
        let options = try Self.options(["FIREZONE_TOKEN": "abc", "FIREZONE_DNS_CONTROL": method.rawValue])
        #expect(options.dnsControl == method)
    }

    @Test func unknownDNSControlNamesFlagAndVariable() throws {
        let error = #expect(throws: OptionError.self) {
            try Self.options(["FIREZONE_TOKEN": "abc", "FIREZONE_DNS_CONTROL": "nrpt"])
        }
        let message = try #require(error).description
        #expect(message.contains("--dns-control / FIREZONE_DNS_CONTROL"))
        #expect(message.contains("'nrpt'"))
    }

    @Test func internetResourceCanBeDeactivated() throws {
        let options = try Self.options(["FIREZONE_TOKEN": "abc", "FIREZONE_ACTIVATE_INTERNET_RESOURCE": "false"])
        #expect(!options.activateInternetResource)
        #expect(throws: OptionError.self) {
            try Self.options(["FIREZONE_TOKEN": "abc", "FIREZONE_ACTIVATE_INTERNET_RESOURCE": "maybe"])
        }
    }

    @Test func flagsWinOverVariables() throws {
        var flags = HeadlessClientOptions.Flags()
        flags.apiURL = "ws://127.0.0.1:8081"
        flags.name = "laptop"
        flags.statusPath = "/tmp/status.json"
        let options = try Self.options(
            [
                "FIREZONE_TOKEN": "abc", "FIREZONE_API_URL": "wss://other", "FIREZONE_NAME": "other",
                "MAX_PARTITION_TIME": "30m", "LOG_DIR": "/var/log/firezone", "FIREZONE_ID": "id-1",
            ],
            flags: flags
        )
        #expect(options.apiURL == "ws://127.0.0.1:8081")
        #expect(options.name == "laptop")
        #expect(options.statusPath == "/tmp/status.json")
        #expect(options.maxPartitionTime == .seconds(1_800))
        #expect(options.logDirectory == "/var/log/firezone")
        #expect(options.id == "id-1")
    }

    @Test func logFilterComesFromRustLog() throws {
        let options = try Self.options(["FIREZONE_TOKEN": "abc", "RUST_LOG": "firezone_tunnel=debug"])
        #expect(options.logLevel == .debug)
    }
}
