import Foundation
import NIOPosix
import PhoenixCore
import PortalMessages
import PortalServer
import PortalTestSupport
import RelayCore
import Synchronization
import Testing

/// The `firezone-relay` executable (built next to this test binary) against the local portal.
@Suite(.timeLimit(.minutes(2)))
struct RelayBinaryTests {
    /// A relay process with its standard error captured as it comes.
    final class RelayProcess: @unchecked Sendable {
        // Written by `Process` before `waitUntilExit` returns, read after: no concurrent access.
        let process = Process()
        let errors = Pipe()
        private let output = Output()

        /// Standard error so far, and whether it has ended; filled by the pipe's readability handler.
        private final class Output: Sendable {
            let state = Mutex<(text: String, ended: Bool)>(("", false))
        }

        init(arguments: [String], environment: [String: String]) throws {
            let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
                .appendingPathComponent("firezone-relay")
            guard FileManager.default.isExecutableFile(atPath: binary.path) else {
                Issue.record("firezone-relay is not built next to the tests (\(binary.path)); run swift build first")
                throw TimedOut()
            }
            self.process.executableURL = binary
            self.process.arguments = arguments
            self.process.environment = environment.merging(["RUST_LOG": "info"]) { $1 }
            self.process.standardError = self.errors
            self.process.standardOutput = FileHandle.nullDevice
            let output = self.output
            self.errors.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty {
                    handle.readabilityHandler = nil
                }
                output.state.withLock { state in
                    state.text += String(decoding: data, as: UTF8.self)
                    state.ended = state.ended || data.isEmpty
                }
            }
            try self.process.run()
        }

        /// Waits up to `timeout` for standard error to contain `text`; false (recorded) if it never does.
        func waitForOutput(
            containing text: String,
            within timeout: Duration = .seconds(10),
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                let (found, ended) = self.output.state.withLock { ($0.text.contains(text), $0.ended) }
                if found {
                    return true
                }
                if ended {
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            let seen = self.output.state.withLock { $0.text }
            Issue.record("the relay never wrote \"\(text)\": \(seen)", sourceLocation: sourceLocation)
            return false
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
            // The pipe ends when the process has gone; its last bytes may still be on the way.
            let drained = ContinuousClock.now + .seconds(5)
            while !self.output.state.withLock({ $0.ended }), ContinuousClock.now < drained {
                try await Task.sleep(for: .milliseconds(10))
            }
            return (self.process.terminationStatus, self.output.state.withLock { $0.text })
        }

        func stop() {
            if self.process.isRunning {
                self.process.terminate()
                self.process.waitUntilExit()
            }
        }
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
        #expect(try await relay.waitForOutput(containing: "connect failed"))
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
        #expect(try await relay.waitForOutput(containing: "running standalone"))
        #expect(relay.process.isRunning)
        relay.process.terminate()
        let (status, output) = try await relay.exit(within: .seconds(5))
        #expect(status == 0)
        #expect(output.contains("running standalone"), "\(output)")
    }
}
