import Foundation
import PortalTestSupport
import RelayCore
import Testing

/// The relay's hardening options reach its TURN core: refused peers, limits, the portal mode and the open-file
/// limit, seen from outside the `firezone-relay` process.
@Suite(.timeLimit(.minutes(2)))
struct RelayBinaryOptionTests {
    typealias RelayProcess = RelayBinaryTests.RelayProcess

    static let secret = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

    static func credentials(salt: String) -> (username: String, password: String) {
        RelayCredentials.mint(expiry: UInt64(Date().timeIntervalSince1970) + 3600, salt: salt, secret: Self.secret)
    }

    /// A standalone relay on a free port with the test's secret and `arguments`, ready for TURN.
    static func startRelay(
        _ arguments: [String],
        environment: [String: String] = [:]
    ) async throws -> (RelayProcess, port: Int) {
        let port = RelayBinaryTests.freePort()
        let relay = try RelayProcess(
            arguments: RelayBinaryTests.relayArguments(port: port) + ["--auth-secret", Self.secret] + arguments,
            environment: environment
        )
        #expect(try await relay.waitForOutput(containing: "Relay listening", within: .seconds(10)), "\(relay.output)")
        return (relay, port)
    }

    @Test(
        arguments: [
            (["--denied-peer-ip", "10.0.0.1/8"], [:], "'10.0.0.1/8'; expected a network in CIDR notation"),
            (["--denied-peer-ip", "10.0.0.0/33"], [:], "'10.0.0.0/33'"),
            ([], ["DENIED_PEER_IPS": "192.0.2.0/24, example.com/8"], "'example.com/8'"),
            (
                ["--max-channel-bindings", "0"], [:],
                "(--max-channel-bindings / FIREZONE_RELAY_MAX_CHANNEL_BINDINGS): '0'"
            ),
            (
                [], ["FIREZONE_RELAY_MAX_ALLOCATIONS_PER_USERNAME": "-1"],
                "_PER_USERNAME): '-1'; expected a whole number"
            ),
            ([], ["FIREZONE_RELAY_MAX_CHANNELS_PER_ALLOCATION": "many"], "_PER_ALLOCATION): 'many'; expected a whole"),
            ([], ["EBPF_BINDING_CAPACITY": "0"], "(--ebpf-binding-capacity / EBPF_BINDING_CAPACITY): '0'"),
        ] as [([String], [String: String], String)]
    )
    func aBadHardeningOptionIsAUsageError(
        arguments: [String],
        environment: [String: String],
        message: String
    )
        async throws
    {
        let relay = try RelayProcess(
            arguments: RelayBinaryTests.relayArguments(port: RelayBinaryTests.freePort()) + arguments,
            environment: environment
        )
        let (status, output) = try await relay.exit(within: .seconds(10))
        #expect(status == 2, "\(output)")
        #expect(output.contains(message), "\(output)")
    }

    @Test(
        arguments: [
            (["--denied-peer-ip", "198.51.100.0/24", "--denied-peer-ip", "192.0.2.0/24"], [:]),
            ([], ["DENIED_PEER_IPS": "198.51.100.0/24,192.0.2.0/24"]),
        ] as [([String], [String: String])]
    )
    func aDeniedPeerIsRefusedWith403(arguments: [String], environment: [String: String]) async throws {
        let (relay, port) = try await Self.startRelay(arguments, environment: environment)
        defer { relay.stop() }
        let client = try TURNTestClient(relayPort: port)
        let credentials = Self.credentials(salt: "denied")
        #expect(try client.allocate(credentials).errorCode == nil)
        #expect(try client.bind(0x4000, to: "192.0.2.7:5000", credentials) == 403)
        #expect(try client.bind(0x4000, to: "198.51.100.7:5000", credentials) == 403)
        #expect(try client.bind(0x4000, to: "203.0.113.7:5000", credentials) == nil)
    }

    @Test
    func theLimitsReachTheCore() async throws {
        let (relay, port) = try await Self.startRelay([
            "--max-allocations-per-username", "2", "--max-channels-per-allocation", "1", "--max-channel-bindings", "2",
        ])
        defer { relay.stop() }
        let alice = Self.credentials(salt: "alice")
        let first = try TURNTestClient(relayPort: port)
        #expect(try first.allocate(alice).errorCode == nil)
        #expect(try first.bind(0x4000, to: "203.0.113.7:5000", alice) == nil)
        #expect(try first.bind(0x4001, to: "203.0.113.8:5000", alice) == 508, "one channel per allocation")
        let second = try TURNTestClient(relayPort: port)
        #expect(try second.allocate(alice).errorCode == nil)
        #expect(try second.bind(0x4000, to: "203.0.113.7:5000", alice) == nil)
        let third = try TURNTestClient(relayPort: port)
        #expect(try third.allocate(alice).errorCode?.code == 486, "two allocations per username")
        let bob = Self.credentials(salt: "bob")
        #expect(try third.allocate(bob).errorCode == nil)
        #expect(try third.bind(0x4000, to: "203.0.113.7:5000", bob) == 508, "two channels on the whole relay")
    }

    /// Joined to a portal, a username's second ALLOCATE replaces its first (a roaming client), whatever the
    /// standalone quota says; standalone, the same exchange gets 486.
    @Test(arguments: [true, false])
    func aPortalRelayReplacesAUsernamesAllocation(joinsPortal: Bool) async throws {
        let fixture = try await PortalFixture()
        let port = RelayBinaryTests.freePort()
        let relay = try RelayProcess(
            arguments: RelayBinaryTests.relayArguments(port: port)
                + ["--auth-secret", Self.secret, "--max-allocations-per-username", "1"],
            environment: joinsPortal ? ["FIREZONE_TOKEN": "relay-1-token", "FIREZONE_API_URL": fixture.apiURL] : [:]
        )
        defer { relay.stop() }
        #expect(try await relay.waitForOutput(containing: "Relay listening", within: .seconds(10)), "\(relay.output)")
        let alice = Self.credentials(salt: "alice")
        let before = try TURNTestClient(relayPort: port)
        #expect(try before.allocate(alice).errorCode == nil)
        let after = try TURNTestClient(relayPort: port)
        #expect(try after.allocate(alice).errorCode?.code == (joinsPortal ? nil : 486))
        relay.stop()
        try await fixture.stop()
    }

    /// The soft open-file limit of `pid`, and its hard one, from `/proc/PID/limits`.
    static func openFileLimits(of pid: Int32) throws -> (soft: String, hard: String) {
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let fields = line.dropFirst("Max open files".count).split(separator: " ")
        try #require(fields.count >= 2, "\(line)")
        return (String(fields[0]), String(fields[1]))
    }

    @Test
    func theRelayRaisesItsOpenFileLimitToTheHardLimit() async throws {
        let ownHard = try Self.openFileLimits(of: getpid()).hard
        try #require(ownHard != "512", "the test needs a hard limit above the relay's starting soft limit")
        let port = RelayBinaryTests.freePort()
        let relay = try RelayProcess(
            arguments: RelayBinaryTests.relayArguments(port: port) + ["--auth-secret", Self.secret],
            environment: [:],
            shellPrefix: "ulimit -Sn 512"
        )
        defer { relay.stop() }
        #expect(try await relay.waitForOutput(containing: "Relay listening", within: .seconds(10)), "\(relay.output)")
        let limits = try Self.openFileLimits(of: relay.process.processIdentifier)
        #expect(limits.soft == limits.hard, "\(limits)")
        #expect(limits.hard == ownHard)
        #expect(!relay.output.contains("open-file limit ("), "\(relay.output)")
    }

    @Test
    func aHardLimitTooLowForThePortRangeIsWarnedAbout() async throws {
        let port = RelayBinaryTests.freePort()
        let relay = try RelayProcess(
            arguments: RelayBinaryTests.relayArguments(port: port)
                + ["--auth-secret", Self.secret, "--highest-port", "41000"],
            environment: [:],
            shellPrefix: "ulimit -n 300"
        )
        defer { relay.stop() }
        #expect(try await relay.waitForOutput(containing: "Relay listening", within: .seconds(10)), "\(relay.output)")
        // 1,001 ports, two sockets each, and 64 more.
        #expect(relay.output.contains("open-file limit (300) is below the 2066 descriptors"), "\(relay.output)")
    }

    @Test
    func aBindingLimitPastTheXDPCapacityIsWarnedAbout() async throws {
        // No such interface: the relay warns while reading its options, then cannot attach and exits.
        let relay = try RelayProcess(
            arguments: RelayBinaryTests.relayArguments(port: RelayBinaryTests.freePort())
                + ["--ebpf-offloading", "fz-absent0", "--ebpf-binding-capacity", "100"]
                + ["--max-channel-bindings", "101"],
            environment: [:]
        )
        let (status, output) = try await relay.exit(within: .seconds(10))
        #expect(status == 1, "\(output)")
        #expect(output.contains("channel binding limit (101, --max-channel-bindings"), "\(output)")
        #expect(output.contains("exceeds the XDP maps' capacity (100, --ebpf-binding-capacity"), "\(output)")
    }
}
