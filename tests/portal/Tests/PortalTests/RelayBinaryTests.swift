import Foundation
import NIOPosix
import PhoenixCore
import PortalMessages
import PortalServer
import PortalTestSupport
import RelayCore
import Testing

/// The `firezone-relay` executable (built next to this test binary) against the local portal.
@Suite(.timeLimit(.minutes(2)))
struct RelayBinaryTests {
    /// A relay process with its standard error captured in a file, so that a test can wait for a line while the
    /// relay runs.
    final class RelayProcess: @unchecked Sendable {
        // Written by `Process` before `waitUntilExit` returns, read after: no concurrent access.
        let process = Process()
        let errorsPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("firezone-relay-\(UUID().uuidString).log")

        /// `shellPrefix`: shell commands run before the relay replaces the shell (`ulimit -n 300`), so that the
        /// relay starts with what they set.
        init(arguments: [String], environment: [String: String], shellPrefix: String? = nil) throws {
            let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
                .appendingPathComponent("firezone-relay")
            guard FileManager.default.isExecutableFile(atPath: binary.path) else {
                Issue.record("firezone-relay is not built next to the tests (\(binary.path)); run swift build first")
                throw TimedOut()
            }
            guard FileManager.default.createFile(atPath: self.errorsPath.path, contents: nil) else {
                Issue.record("cannot create \(self.errorsPath.path)")
                throw TimedOut()
            }
            if let shellPrefix {
                self.process.executableURL = URL(fileURLWithPath: "/bin/sh")
                self.process.arguments = ["-c", shellPrefix + " && exec \"$0\" \"$@\"", binary.path] + arguments
            } else {
                self.process.executableURL = binary
                self.process.arguments = arguments
            }
            self.process.environment = environment.merging(["RUST_LOG": "info"]) { $1 }
            self.process.standardError = try FileHandle(forWritingTo: self.errorsPath)
            self.process.standardOutput = FileHandle.nullDevice
            try self.process.run()
        }

        deinit {
            try? FileManager.default.removeItem(at: self.errorsPath)
        }

        /// What the relay wrote to standard error so far.
        var output: String {
            (try? String(contentsOf: self.errorsPath, encoding: .utf8)) ?? ""
        }

        /// Waits up to `timeout` for `text` in the output; whether it appeared.
        func waitForOutput(containing text: String, within timeout: Duration) async throws -> Bool {
            let deadline = ContinuousClock.now + timeout
            while !self.output.contains(text) {
                guard ContinuousClock.now < deadline, self.process.isRunning else {
                    return self.output.contains(text)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            return true
        }

        /// Waits up to `timeout` for the process to exit; its status and standard error.
        func exit(within timeout: Duration) async throws -> (Int32, String) {
            let deadline = ContinuousClock.now + timeout
            while self.process.isRunning, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            if self.process.isRunning {
                self.process.terminate()
                self.process.waitUntilExit()
                Issue.record("the relay did not exit within \(timeout)")
            }
            #expect(self.process.terminationReason == .exit, "killed by signal \(self.process.terminationStatus)")
            return (self.process.terminationStatus, self.output)
        }

        func stop() {
            if self.process.isRunning {
                self.process.terminate()
                self.process.waitUntilExit()
            }
        }
    }

    /// A file holding `contents`, removed by `body`'s end.
    static func withFile<T>(_ contents: String, _ body: (String) async throws -> T) async throws -> T {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("relay-secret-\(UUID().uuidString)")
        try Data((contents + "\n").utf8).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        return try await body(path.path)
    }

    static func relayArguments(port: Int) -> [String] {
        [
            "--public-ip4-addr", "127.0.0.1", "--bind-ip4-addr", "127.0.0.1", "--listen-port", "\(port)",
            "--lowest-port", "40000", "--highest-port", "40100", "--health-check-addr", "127.0.0.1:0",
        ]
    }

    /// A UDP port nobody listens on right now.
    static func freePort() -> Int {
        Int.random(in: 20_000..<30_000)
    }

    @Test
    func theRelayJoinsWithItsSecretAndAppearsInClientsInit() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let secret = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
        let port = Self.freePort()
        let relay = try RelayProcess(
            arguments: Self.relayArguments(port: port) + ["--auth-secret", secret],
            environment: [
                "FIREZONE_TOKEN": "relay-1-token", "FIREZONE_API_URL": fixture.apiURL, "FIREZONE_NAME": "relay-1",
            ]
        )
        defer { relay.stop() }
        var presence = ""
        for _ in 0..<100 where !presence.contains("relay-1") {
            try await Task.sleep(for: .milliseconds(100))
            presence = try await fixture.admin("GET", "/v1/presence").1
        }
        #expect(presence.contains(#""relays":["relay-1"]"#))

        let (client, events) = try connectClient(fixture, group: group)
        let initial = try await BrokeringTests.expect(events) { if case .initialize(let i) = $0 { i } else { nil } }
        guard case .turn(let entry)? = initial.relays.elements.first else {
            Issue.record("no relay in init: \(initial.relays)")
            return
        }
        #expect(initial.relays.elements.count == 1)
        #expect(entry.id == TestWorld.relay)
        #expect(entry.address.description == "127.0.0.1:\(port)")
        // Minted from the secret the relay joined with: the relay will accept them.
        #expect(RelayCredentials.password(username: entry.username, secret: secret) == entry.password)

        // The portal expires the relay's token: the relay stops with a clear message and a failure status.
        #expect(try await fixture.admin("POST", "/v1/components/relay-1/expire-token").0 == 200)
        let (status, output) = try await relay.exit(within: .seconds(10))
        #expect(status != 0)
        #expect(output.contains("token expired"), "\(output)")
        client.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func theRelayComesBackWhenThePortalRestarts() async throws {
        let first = try await PortalFixture()
        let port = first.port
        let relay = try RelayProcess(
            arguments: Self.relayArguments(port: Self.freePort()),
            environment: ["FIREZONE_TOKEN": "relay-1-token", "FIREZONE_API_URL": first.apiURL]
        )
        defer { relay.stop() }
        func waitForRelay(_ fixture: PortalFixture) async throws -> Bool {
            for _ in 0..<100 {
                if try await fixture.admin("GET", "/v1/presence").1.contains(#""relays":["relay-1"]"#) {
                    return true
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            return false
        }
        #expect(try await waitForRelay(first))
        try await first.stop()
        // Down: the relay's attempts fail and it backs off, still running.
        #expect(try await relay.waitForOutput(containing: "connect failed", within: .seconds(10)))
        #expect(relay.process.isRunning)
        let second = try await PortalFixture(port: port)
        #expect(try await waitForRelay(second))
        #expect(relay.process.isRunning)
        try await second.stop()
    }

    @Test
    func aRejectedTokenStopsTheRelayWithTheReason() async throws {
        let fixture = try await PortalFixture()
        let relay = try RelayProcess(
            arguments: Self.relayArguments(port: Self.freePort()),
            environment: ["FIREZONE_TOKEN": "wrong", "FIREZONE_API_URL": fixture.apiURL]
        )
        let (status, output) = try await relay.exit(within: .seconds(10))
        #expect(status == 1)
        #expect(output.contains("HTTP 401"), "\(output)")
        #expect(output.contains("Invalid token"), "\(output)")
        #expect(!output.contains("wrong"), "the token leaked into the log: \(output)")
        try await fixture.stop()
    }

    @Test
    func theRelayGivesUpAfterThePartitionTime() async throws {
        let fixture = try await PortalFixture()
        let apiURL = fixture.apiURL
        try await fixture.stop()
        let started = ContinuousClock.now
        let relay = try RelayProcess(
            arguments: Self.relayArguments(port: Self.freePort()) + ["--max-partition-time", "2s"],
            environment: ["FIREZONE_TOKEN": "relay-1-token", "FIREZONE_API_URL": apiURL]
        )
        let (status, output) = try await relay.exit(within: .seconds(15))
        #expect(status == 1)
        #expect(output.contains("unreachable for 2 s"), "\(output)")
        #expect(ContinuousClock.now - started >= .seconds(2))
    }

    @Test
    func withoutATokenTheRelayRunsStandalone() async throws {
        let relay = try RelayProcess(arguments: Self.relayArguments(port: Self.freePort()), environment: [:])
        #expect(try await relay.waitForOutput(containing: "Serving health checks", within: .seconds(10)))
        #expect(relay.process.isRunning)
        relay.process.terminate()
        let (status, output) = try await relay.exit(within: .seconds(5))
        #expect(status == 0)
        #expect(output.contains("running standalone"), "\(output)")
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalStopsTheRelayGracefullyInReverseOrder(signal: Int32) async throws {
        let fixture = try await PortalFixture()
        let relay = try RelayProcess(
            arguments: Self.relayArguments(port: Self.freePort()),
            environment: ["FIREZONE_TOKEN": "relay-1-token", "FIREZONE_API_URL": fixture.apiURL]
        )
        defer { relay.stop() }
        #expect(try await relay.waitForOutput(containing: "Connected to the portal", within: .seconds(10)))
        kill(relay.process.processIdentifier, signal)
        let (status, output) = try await relay.exit(within: .seconds(10))
        #expect(status == 0, "\(output)")
        // The portal hears first that the relay leaves; the relay keeps relaying until then.
        let portal = try #require(output.range(of: "Portal connection closed"), "\(output)")
        let health = try #require(output.range(of: "Health checks stopped"), "\(output)")
        let loop = try #require(output.range(of: "Relay stopped"), "\(output)")
        #expect(portal.lowerBound < health.lowerBound && health.lowerBound < loop.lowerBound, "\(output)")
        try await fixture.stop()
    }

    @Test
    func theSecretAndTheTokenCanComeFromFiles() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let secret = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
        try await Self.withFile(secret) { secretPath in
            try await Self.withFile("relay-1-token") { tokenPath in
                let relay = try RelayProcess(
                    arguments: Self.relayArguments(port: Self.freePort()) + ["--auth-secret-file", secretPath],
                    environment: [
                        "FIREZONE_TOKEN_FILE": tokenPath, "FIREZONE_API_URL": fixture.apiURL,
                        "FIREZONE_NAME": "relay-1",
                    ]
                )
                defer { relay.stop() }
                #expect(try await relay.waitForOutput(containing: "Connected to the portal", within: .seconds(10)))
                let (client, events) = try connectClient(fixture, group: group)
                let initial = try await BrokeringTests.expect(events) {
                    if case .initialize(let i) = $0 { i } else { nil }
                }
                guard case .turn(let entry)? = initial.relays.elements.first else {
                    Issue.record("no relay in init: \(initial.relays)")
                    return
                }
                // The portal minted the client's credentials from the secret in the file.
                #expect(RelayCredentials.password(username: entry.username, secret: secret) == entry.password)
                client.close()
                relay.stop()
                #expect(!relay.output.contains(secret), "the secret leaked into the log: \(relay.output)")
                #expect(!relay.output.contains("relay-1-token"), "the token leaked into the log: \(relay.output)")
                #expect(!relay.output.contains("/proc/PID/cmdline"), "\(relay.output)")
            }
        }
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func aWeakSecretIsAUsageErrorThatDoesNotQuoteIt() async throws {
        let relay = try RelayProcess(
            arguments: Self.relayArguments(port: Self.freePort()),
            environment: ["FIREZONE_RELAY_AUTH_SECRET": "00112233445566778899aabbccddeeff"]
        )
        let (status, output) = try await relay.exit(within: .seconds(10))
        #expect(status == 2)
        #expect(output.contains("FIREZONE_RELAY_AUTH_SECRET): it holds 16 bytes, fewer than the 32"), "\(output)")
        #expect(!output.contains("00112233"), "\(output)")
    }

    @Test
    func aSecretFlagIsWarnedAbout() async throws {
        let relay = try RelayProcess(
            arguments: Self.relayArguments(port: Self.freePort())
                + ["--auth-secret", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"],
            environment: [:]
        )
        defer { relay.stop() }
        #expect(try await relay.waitForOutput(containing: "Serving health checks", within: .seconds(10)))
        #expect(relay.output.contains("warning"), "\(relay.output)")
        #expect(relay.output.contains("--auth-secret, which every local user can read in /proc/PID/cmdline"))
        #expect(!relay.output.contains("00112233445566778899"), "\(relay.output)")
    }
}
