import ArgumentParser
import LinuxIO
import Dispatch
import Glibc
import IPPacket
import Logging
import NIOPosix
import PhoenixChannel
import PhoenixCore
import PortalMessages
import Prometheus
import Relay
import RelayCore
import Synchronization

/// The relay: STUN/TURN on the listening port, `/healthz` and `/metrics` on the health address.
///
/// Every option is also read from the environment variable Firezone's relay uses (reference §3.1); a flag wins
/// over the variable. Invalid options exit with code 2, a failure to start with code 1, SIGTERM or SIGINT with 0.
@main
struct FirezoneRelay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firezone-relay",
        abstract: "Firezone's STUN/TURN relay.",
        subcommands: [Run.self, Credentials.self],
        defaultSubcommand: Run.self
    )

    static func main() {
        do {
            var command = try Self.parseAsRoot()
            try command.run()
        } catch {
            let code = Self.exitCode(for: error)
            if code == .success {
                Self.exit(withError: error)
            }
            // Usage errors (ArgumentParser's 64) are ours to number: a clear message and 2, as the issue asks.
            let isUsage = error is ValidationError || code == .validationFailure
            FileHandleStandardError.write(Self.fullMessage(for: error) + "\n")
            Glibc.exit(isUsage ? 2 : code.rawValue)
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the relay (the default).")

    @Option(name: .customLong("public-ip4-addr"), help: "Public IPv4 address (env PUBLIC_IP4_ADDR).")
    var publicIPv4: String?
    @Option(name: .customLong("public-ip6-addr"), help: "Public IPv6 address (env PUBLIC_IP6_ADDR).")
    var publicIPv6: String?
    @Option(name: .customLong("bind-ip4-addr"), help: "Local IPv4 address to bind (env BIND_IP4_ADDR, default 0.0.0.0).")
    var bindIPv4: String?
    @Option(name: .customLong("bind-ip6-addr"), help: "Local IPv6 address to bind (env BIND_IP6_ADDR, default ::).")
    var bindIPv6: String?
    @Option(name: .customLong("listen-port"), help: "STUN/TURN port (env LISTEN_PORT, default 3478).")
    var listenPort: String?
    @Option(name: .customLong("lowest-port"), help: "Lowest allocation port (env LOWEST_PORT, default 49152).")
    var lowestPort: String?
    @Option(name: .customLong("highest-port"), help: "Highest allocation port (env HIGHEST_PORT, default 65535).")
    var highestPort: String?
    @Option(name: .customLong("health-check-addr"), help: "Address of /healthz and /metrics (env HEALTH_CHECK_ADDR, default 0.0.0.0:8080).")
    var healthCheckAddress: String?
    @Option(name: .customLong("auth-secret"), help: "Credential secret (env FIREZONE_RELAY_AUTH_SECRET); random when absent.")
    var authSecret: String?
    @Option(name: .customLong("token"), help: "Portal token (env FIREZONE_TOKEN); without one the relay runs standalone.")
    var token: String?
    @Option(name: .customLong("api-url"), help: "Portal URL (env FIREZONE_API_URL, default wss://api.firezone.dev).")
    var apiURL: String?
    @Option(name: .customLong("name"), help: "Name shown in the portal (env FIREZONE_NAME).")
    var name: String?
    @Option(name: .customLong("max-partition-time"), help: "How long the portal may be unreachable before the relay exits, e.g. 900s, 15m, 1h (env FIREZONE_MAX_PARTITION_TIME, default 15m).")
    var maxPartitionTime: String?
    @Option(name: .customLong("ebpf-offloading"), help: "Interface to attach the XDP fast path to (env EBPF_OFFLOADING); off when absent.")
    var ebpfOffloading: String?
    @Option(name: .customLong("ebpf-attach-mode"), help: "XDP attach mode: driver or generic (env EBPF_ATTACH_MODE, default driver).")
    var ebpfAttachMode: String?
    @Option(name: .customLong("ebpf-int4-addr"), help: "The interface's IPv4 address, the source of packets XDP translates from IPv6 (env EBPF_INT4_ADDR, default the public IPv4 address).")
    var ebpfInterfaceIPv4: String?
    @Option(name: .customLong("ebpf-int6-addr"), help: "The interface's IPv6 address, the source of packets XDP translates from IPv4 (env EBPF_INT6_ADDR, default the public IPv6 address).")
    var ebpfInterfaceIPv6: String?

    func run() throws {
        let configuration = try RelayOptions.resolve(self)
        let portalOptions = try PortalOptions.resolve(self, relay: configuration)
        var logger = Logger(label: "firezone-relay", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = RelayOptions.logLevel()

        let registry = PrometheusCollectorRegistry()
        let publisher = RelayStatsPublisher(factory: PrometheusMetricsFactory(registry: registry))
        // Asked to offload, the relay never runs without it: a failure to load or attach ends the process.
        var offload: XDPOffload?
        if let xdp = configuration.xdp {
            do {
                offload = try XDPOffload(relay: configuration, offload: xdp, logger: logger)
            } catch {
                throw RelayStartError(message: "cannot start the XDP offload on \(xdp.interface) (\(xdp.mode) mode): \(error)")
            }
        }
        let loop: RelayEventLoop
        do {
            loop = try RelayEventLoop(configuration: configuration, offload: offload, statsPublisher: publisher, logger: logger)
        } catch {
            throw RelayStartError(message: "cannot start the relay: \(error)")
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let health: HealthServer
        do {
            health = try group.next().makeFutureWithTask {
                try await HealthServer(address: configuration.healthCheckAddress, group: group) {
                    PrometheusTextOrder.canonical(registry.emitToString())
                }
            }.wait()
        } catch {
            throw RelayStartError(message: "cannot serve health checks on \(configuration.healthCheckAddress): \(error)")
        }
        logger.info("Health checks and metrics served", metadata: ["health.address": "\(configuration.healthCheckAddress)"])

        let stop = StopRequest(wakeup: loop.wakeupDescriptor)
        let portalFailure = PortalFailure()
        var portal: PhoenixChannel<RelayTopic>?
        if let portalOptions {
            let channel = try PhoenixChannel<RelayTopic>(configuration: portalOptions, group: group, logger: logger)
            // The relay needs nothing from the portal but to stay registered; it stops when the portal gives up.
            _ = group.next().makeFutureWithTask {
                for await event in channel.events {
                    if case .failed(let failure) = event {
                        portalFailure.record(failure)
                        stop.request()
                    }
                }
            }
            portal = channel
            logger.info("Connecting to the portal", metadata: ["portal.url": "\(portalOptions.url)"])
        } else {
            logger.info("No portal token (FIREZONE_TOKEN): running standalone")
        }
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.request() }
            source.resume()
            return source
        }
        loop.run { stop.isRequested }
        offload?.detach()
        signals.forEach { $0.cancel() }
        portal?.close()
        try? group.next().makeFutureWithTask { try await health.close() }.wait()
        try? group.syncShutdownGracefully()
        if let failure = portalFailure.value {
            throw RelayStartError(message: "stopping: \(failure)")
        }
    }
}

struct Credentials: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a username and password for a TURN client of a relay with this secret."
    )

    @Option(name: .customLong("auth-secret"), help: "The relay's credential secret.")
    var authSecret: String
    @Option(help: "Expiry in Unix seconds (default: one day from now).")
    var expiry: UInt64?
    @Option(help: "Salt (default: random).")
    var salt: String?

    func validate() throws {
        guard !self.authSecret.isEmpty else {
            throw ValidationError("--auth-secret must not be empty")
        }
        if let salt, salt.isEmpty {
            throw ValidationError("--salt must not be empty")
        }
    }

    func run() {
        let expiry = self.expiry ?? UInt64(time(nil)) + 86_400
        let salt = self.salt ?? RelayOptions.randomHex(bytes: 8)
        let (username, password) = RelayCredentials.mint(expiry: expiry, salt: salt, secret: self.authSecret)
        print("username=\(username)")
        print("password=\(password)")
    }
}

struct RelayStartError: Error, CustomStringConvertible {
    var message: String
    var description: String { self.message }
}

/// Why the portal connection gave up, set from the event loop, read after the relay's loop stopped.
final class PortalFailure: Sendable {
    private let failure = Mutex<PhoenixFailure?>(nil)

    func record(_ failure: PhoenixFailure) {
        self.failure.withLock { $0 = failure }
    }

    var value: PhoenixFailure? {
        self.failure.withLock { $0 }
    }
}

/// Set from a signal handler's queue, read by the IO loop after each wake-up.
final class StopRequest: Sendable {
    private let requested = Atomic(false)
    private let wakeup: Int32

    init(wakeup: Int32) {
        self.wakeup = wakeup
    }

    var isRequested: Bool {
        self.requested.load(ordering: .acquiring)
    }

    func request() {
        self.requested.store(true, ordering: .releasing)
        fz_eventfd_signal(self.wakeup)
    }
}

enum FileHandleStandardError {
    static func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = Glibc.write(STDERR_FILENO, &bytes, bytes.count)
    }
}
