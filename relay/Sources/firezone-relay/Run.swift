import ArgumentParser
import FirezoneCommand
import FirezoneHealth
import FirezoneOptions
import LinuxIO
import Logging
import NIOPosix
import PhoenixChannel
import PhoenixCore
import PortalMessages
import Prometheus
import Relay
import RelayCore
import RelayXDP
import ServiceLifecycle

/// `firezone-relay [run]`: reads the options, starts what can fail to start, then runs the relay's services in one
/// `ServiceGroup` until SIGTERM or SIGINT.
///
/// Every option is also read from the environment variable Firezone's relay uses (Firezone's relay CLI, rust/relay/server/src/main.rs); a flag wins
/// over its variable. Secrets are best given as files or variables: flags are visible to every local user.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the relay (the default).")

    @Option(name: .customLong("public-ip4-addr"), help: "Public IPv4 address (env PUBLIC_IP4_ADDR).")
    var publicIPv4: String?
    @Option(name: .customLong("public-ip6-addr"), help: "Public IPv6 address (env PUBLIC_IP6_ADDR).")
    var publicIPv6: String?
    @Option(
        name: .customLong("bind-ip4-addr"),
        help: "Local IPv4 address to bind (env BIND_IP4_ADDR; default the public one if local, else 0.0.0.0)."
    )
    var bindIPv4: String?
    @Option(
        name: .customLong("bind-ip6-addr"),
        help: "Local IPv6 address to bind (env BIND_IP6_ADDR; default the public one if local, else ::)."
    )
    var bindIPv6: String?
    @Option(name: .customLong("listen-port"), help: "STUN/TURN port (env LISTEN_PORT, default 3478).")
    var listenPort: String?
    @Option(name: .customLong("lowest-port"), help: "Lowest allocation port (env LOWEST_PORT, default 49152).")
    var lowestPort: String?
    @Option(name: .customLong("highest-port"), help: "Highest allocation port (env HIGHEST_PORT, default 65535).")
    var highestPort: String?
    @Option(
        name: .customLong("health-check-addr"),
        help: "Address of /healthz and /metrics (env HEALTH_CHECK_ADDR, default 0.0.0.0:8080)."
    )
    var healthCheckAddress: String?
    @Option(
        name: .customLong("auth-secret"),
        help: ArgumentHelp(
            "Credential secret, at least 32 bytes (env FIREZONE_RELAY_AUTH_SECRET); random when absent. "
                + "Visible to local users: prefer --auth-secret-file."
        )
    )
    var authSecret: String?
    @Option(
        name: .customLong("auth-secret-file"),
        help: "File holding the credential secret (env FIREZONE_RELAY_AUTH_SECRET_FILE)."
    )
    var authSecretFile: String?
    @OptionGroup(title: "Portal (without a token the relay runs standalone)")
    var portalFlags: PortalFlags
    @Option(
        name: .customLong("ebpf-offloading"),
        help: "Interface to attach the XDP fast path to (env EBPF_OFFLOADING); off when absent."
    )
    var ebpfOffloading: String?
    @Option(
        name: .customLong("ebpf-attach-mode"),
        help: "XDP attach mode: driver or generic (env EBPF_ATTACH_MODE, default driver)."
    )
    var ebpfAttachMode: String?
    @Option(
        name: .customLong("ebpf-int4-addr"),
        help: ArgumentHelp(
            "The interface's IPv4 address, the source of packets XDP translates from IPv6 (env "
                + "EBPF_INT4_ADDR, default the public IPv4 address)."
        )
    )
    var ebpfInterfaceIPv4: String?
    @Option(
        name: .customLong("ebpf-int6-addr"),
        help: ArgumentHelp(
            "The interface's IPv6 address, the source of packets XDP translates from IPv4 (env "
                + "EBPF_INT6_ADDR, default the public IPv6 address)."
        )
    )
    var ebpfInterfaceIPv6: String?
    @Option(
        name: .customLong("ebpf-binding-capacity"),
        help: ArgumentHelp(
            "Channel bindings each XDP map holds; userspace relays bindings past it (env EBPF_BINDING_CAPACITY, "
                + "default \(XDPConfiguration.defaultBindingCapacity))."
        )
    )
    var ebpfBindingCapacity: String?
    @Option(
        name: .customLong("denied-peer-ip"),
        parsing: .singleValue,
        help: ArgumentHelp(
            "A network the relay refuses to relay to (403), such as 10.0.0.0/8; repeat for more (env "
                + "DENIED_PEER_IPS, comma-separated). Loopback, link-local and multicast are always refused."
        )
    )
    var deniedPeerRanges: [String] = []
    @Option(
        name: .customLong("max-allocations-per-username"),
        help: ArgumentHelp(
            "Allocations one username may hold on a standalone relay; past it 486 (env "
                + "FIREZONE_RELAY_MAX_ALLOCATIONS_PER_USERNAME, default \(RelayLimits().allocationsPerUsername))."
        )
    )
    var allocationsPerUsername: String?
    @Option(
        name: .customLong("max-channels-per-allocation"),
        help: ArgumentHelp(
            "Channel bindings one allocation may hold; past it 508 (env "
                + "FIREZONE_RELAY_MAX_CHANNELS_PER_ALLOCATION, default \(RelayLimits().channelBindingsPerAllocation))."
        )
    )
    var channelsPerAllocation: String?
    @Option(
        name: .customLong("max-channel-bindings"),
        help: ArgumentHelp(
            "Channel bindings the whole relay may hold; past it 508 (env FIREZONE_RELAY_MAX_CHANNEL_BINDINGS, "
                + "default \(RelayLimits().channelBindings))."
        )
    )
    var channelBindings: String?

    func run() async throws {
        // 1. Options: every usage error surfaces here, before anything starts.
        let reader = OptionReader(environment: OptionReader.processEnvironment())
        let logger = ExecutableLogger.make(
            label: "firezone-relay",
            level: try reader.logLevel(for: RelayOptions.logTargets)
        )
        let portalOptions = try PortalOptions.resolve(
            self.portalFlags.flags,
            reader: reader,
            defaultPartitionTime: PhoenixConstants.defaultPartitionTime
        )
        let options = try RelayOptions(self, reader: reader, joinsPortal: portalOptions != nil)
        for warning in options.warnings {
            logger.warning("\(warning)")
        }
        let portal = try portalOptions.map { portalOptions throws(OptionError) in
            try RelayPortalConfiguration.make(portalOptions, relay: options.configuration)
        }
        let secrets = [(options.staticAuthSecret, SecretOptionKey.relayAuthSecret), (portalOptions?.token, .token)]
        for (secret, key) in secrets {
            if let warning = secret?.commandLineWarning(key) {
                logger.warning("\(warning)")
            }
        }

        // 2. What can fail to start (exit 1), in the order it is needed.
        let configuration = options.configuration
        OpenFileLimit.raise(toFit: configuration, logger: logger)
        let registry = PrometheusCollectorRegistry()
        let publisher = RelayStatsPublisher(factory: PrometheusMetricsFactory(registry: registry))
        // Asked to offload, the relay never runs without it: a failure to load or attach ends the process.
        var offload: XDPOffload?
        if let xdp = configuration.xdp {
            do {
                offload = try XDPOffload(relay: configuration, offload: xdp, logger: logger)
            } catch {
                throw RelayError("cannot start the XDP offload on \(xdp.interface) (\(xdp.mode) mode): \(error)")
            }
        }
        let loop: RelayEventLoop
        do {
            loop = try RelayEventLoop(
                configuration: configuration,
                offload: offload,
                statsPublisher: publisher,
                logger: logger
            )
        } catch {
            offload?.detach()
            throw RelayError("cannot start the relay: \(error)")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let result: Result<Void, any Error>
        do {
            let health: HealthServer
            do {
                health = try await HealthServer(address: configuration.healthCheckAddress, group: group) {
                    PrometheusTextOrder.canonical(registry.emitToString())
                }
            } catch {
                offload?.detach()
                throw RelayError("cannot serve health checks on \(configuration.healthCheckAddress): \(error)")
            }

            // 3. The services: started in this order, shut down in the reverse one, so that the portal learns
            // first that the relay is leaving and the relay keeps relaying until the portal connection is closed.
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
                .init(
                    service: RelayEventLoopService(loop: loop, offload: offload),
                    successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup,
                    serviceName: "relay"
                ),
                .init(
                    service: HealthService(server: health, address: configuration.healthCheckAddress, logger: logger),
                    successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup,
                    serviceName: "health"
                ),
            ]
            if let portal {
                services.append(
                    .init(
                        service: PortalService<RelayTopic>(
                            configuration: portal,
                            group: group,
                            logger: logger,
                            handle: { _ in }
                        ),
                        successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup,
                        serviceName: "portal"
                    )
                )
            } else {
                logger.info("No portal token (FIREZONE_TOKEN): running standalone")
            }
            let serviceGroup = ServiceGroup(
                configuration: .init(
                    services: services,
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    cancellationSignals: [],
                    logger: logger
                )
            )
            try await serviceGroup.run()
            result = .success(())
        } catch {
            result = .failure(error)
        }
        // Every service has returned, so nothing runs on the event loops any more.
        try await group.shutdownGracefully()
        try result.get()
    }
}
