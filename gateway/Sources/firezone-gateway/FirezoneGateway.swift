import ArgumentParser
import Connlib
import FirezoneCommand
import FirezoneCrypto
import FirezoneHealth
import FirezoneOptions
import Glibc
import IPPacket
import LinuxIO
import Logging
import NIOPosix
import PhoenixCore
import PortalMessages
import Prometheus
import ServiceLifecycle
import WireGuard

/// `firezone-gateway`: connects the portal's clients to the resources of its site. Reads the options, starts what
/// can fail to start (sockets, the TUN device, the firewall rules, the health listener), then runs the data plane,
/// health checks and the portal connection in one `ServiceGroup` until SIGTERM or SIGINT.
///
/// Every option is also read from the environment variable Firezone's gateway uses (rust/gateway/src/main.rs); a
/// flag wins over its variable. The token is best given as a file or variable: flags are visible to every local
/// user.
@main
struct FirezoneGateway: ExecutableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firezone-gateway",
        abstract: "Firezone's gateway: the tunnel's end next to the resources of a site.",
        discussion: """
            Needs CAP_NET_ADMIN (root, or `sudo setcap cap_net_admin+eip firezone-gateway`). Creates the TUN \
            device tun-firezone, turns on IP forwarding and masquerades the clients' tunnel addresses with an \
            nftables table of its own, removed at exit. Needs no open port: connections are set up through the \
            portal and relays.

            ENVIRONMENT
              FIREZONE_TOKEN, FIREZONE_TOKEN_FILE   the gateway's token from the portal (required)
              FIREZONE_ID                           the gateway's ID; else generated and kept in FIREZONE_ID_PATH
              FIREZONE_ID_PATH                      default /var/lib/firezone/gateway_id
              FIREZONE_NAME                         shown in the portal; default the host name
              FIREZONE_API_URL                      default wss://api.firezone.dev
              FIREZONE_MAX_PARTITION_TIME           how long the portal may be unreachable (default 15m)
              FIREZONE_HEALTH_CHECK_ADDR            /healthz, /readyz and /metrics (default 0.0.0.0:8080);
                HEALTH_CHECK_ADDR                   Firezone's and the relay's name, read when the first is unset
              FIREZONE_UDP_SEND_BUFFER_SIZE         bytes (default 2 MiB)
              FIREZONE_UDP_RECV_BUFFER_SIZE         bytes (default 16 MiB)
              FIREZONE_NO_INC_BUF=true              leave net.core.rmem_max and wmem_max as they are
              RUST_LOG                              log filter, e.g. info or firezone_gateway=debug

            \(GatewayExitStatus.help)
            """
    )

    @OptionGroup(title: "Portal")
    var portalFlags: PortalFlags
    @Option(name: .customLong("id"), help: "The gateway's ID (env FIREZONE_ID).")
    var id: String?
    @Option(
        name: .customLong("id-path"),
        help: "Where a generated ID is kept (env FIREZONE_ID_PATH, default \(Self.defaultIDPath))."
    )
    var idPath: String?
    @Option(
        name: .customLong("health-check-addr"),
        help: "Address of /healthz, /readyz and /metrics (env FIREZONE_HEALTH_CHECK_ADDR, default 0.0.0.0:8080)."
    )
    var healthCheckAddress: String?

    static let healthCheckKey = OptionKey(
        "health check address",
        flag: "--health-check-addr",
        variable: "FIREZONE_HEALTH_CHECK_ADDR"
    )
    /// The variable Firezone's gateway and our relay read (rust/bin-shared/src/http_health_check.rs).
    static let sharedHealthCheckKey = OptionKey(
        "health check address",
        flag: "--health-check-addr",
        variable: "HEALTH_CHECK_ADDR"
    )
    static let idKey = OptionKey("gateway ID", flag: "--id", variable: "FIREZONE_ID")
    static let idPathKey = OptionKey("gateway ID file", flag: "--id-path", variable: "FIREZONE_ID_PATH")
    /// Where Firezone's gateway keeps a generated ID (rust/bin-shared/src/device_id.rs).
    static let defaultIDPath = "/var/lib/firezone/gateway_id"
    /// The tracing targets whose `RUST_LOG` directives apply (Firezone's crates `firezone_gateway`, `firezone_tunnel`).
    static let logTargets = ["firezone_gateway", "firezone_tunnel"]

    static var startFailureStatus: Int32 {
        GatewayExitStatus.startFailed.rawValue
    }

    static func exitFailure(for error: any Error) -> (any ExitStatusError)? {
        guard let failed = error as? PortalBridge<GatewayTopic>.PortalFailed else {
            return nil
        }
        return failed.exitFailure(
            unreachable: GatewayExitStatus.portalUnreachable,
            rejected: .portalRejected,
            rejectedHint: "create a new token for this site in the portal and set FIREZONE_TOKEN"
        )
    }

    func run() async throws {
        // 1. Options: every usage error surfaces here, before anything starts.
        let reader = OptionReader(environment: OptionReader.processEnvironment())
        let logger = ExecutableLogger.make(label: "firezone-gateway", level: try reader.logLevel(for: Self.logTargets))
        guard
            let portalOptions = try PortalOptions.resolve(
                self.portalFlags.flags,
                reader: reader,
                defaultPartitionTime: PhoenixConstants.defaultPartitionTime
            )
        else {
            throw OptionError(
                "the gateway needs its portal token: set FIREZONE_TOKEN or FIREZONE_TOKEN_FILE (or --token-file)"
            )
        }
        if let path = OwnerOnlyFile.path(of: portalOptions.token) {
            try OwnerOnlyFile.check(path, key: SecretOptionKey.token.file)
        }
        if let warning = portalOptions.token.commandLineWarning(.token) {
            logger.warning("\(warning)")
        }
        let healthAddress =
            try reader.value(Self.healthCheckKey, flag: self.healthCheckAddress, expected: "an address:port") {
                IPSocketAddress($0)
            }
            ?? reader.value(Self.sharedHealthCheckKey, flag: nil, expected: "an address:port") { IPSocketAddress($0) }
            ?? IPSocketAddress(.v4(.any), port: 8080)
        let buffers = try UDPSocketBuffers(reader: reader, role: .gateway)

        // 2. What can fail to start, in the order it is needed.
        if NetworkAdminCapability.isEffective() == false {
            throw GatewayFailure(
                .missingCapability,
                "the gateway needs CAP_NET_ADMIN for its TUN device, routes and firewall rules: run it as root, or "
                    + "grant it once with `sudo setcap cap_net_admin+eip \(CommandLine.arguments[0])`"
            )
        }
        var id = reader.text(Self.idKey, flag: self.id) ?? ""
        if id.isEmpty {
            do throws(PersistentDeviceID.Failure) {
                id = try PersistentDeviceID.resolve(
                    path: reader.text(Self.idPathKey, flag: self.idPath) ?? Self.defaultIDPath
                )
            } catch {
                throw GatewayFailure(.startFailed, error.description)
            }
        }
        let name = portalOptions.name ?? HostName.current() ?? PersistentDeviceID.makeUUID()
        if buffers.raisesKernelLimits {
            for failure in KernelSocketBufferLimits().raise(toFit: buffers) {
                logger.warning("\(failure); set FIREZONE_NO_INC_BUF=true to skip this")
            }
        }
        let sockets: TunnelSockets
        do {
            sockets = try TunnelSockets(buffers: buffers)
        } catch {
            throw GatewayFailure(
                error.errno == EPERM ? .missingCapability : .startFailed,
                "cannot open the tunnel's UDP sockets: \(error)"
            )
        }
        let network = try GatewayNetwork.start(logger: logger)
        var generator = SystemRandomNumberGenerator()
        let secret = StaticSecret.random(using: &generator)

        let registry = PrometheusCollectorRegistry()
        let metrics = TunnelMetrics(
            component: "gateway",
            dropReasons: GatewayEventLoop.dropReasons,
            queues: GatewayEventLoop.queues,
            factory: PrometheusMetricsFactory(registry: registry)
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let result: Result<Void, any Error>
        do {
            let portal = try PortalBridge<GatewayTopic>(
                configuration: try GatewayPortalConfiguration.make(
                    portalOptions,
                    id: id,
                    name: name,
                    publicKey: LocalIdentity(secret: secret).publicKey
                ),
                group: group,
                logger: logger
            )
            let loop: GatewayEventLoop
            do {
                loop = try GatewayEventLoop(
                    secret: secret,
                    sockets: sockets,
                    tun: network.tun,
                    portal: portal,
                    nameservers: DomainResolver.systemNameservers(),
                    metrics: metrics,
                    configureInterface: { interface in network.configure(interface, logger: logger) },
                    logger: logger
                )
            } catch {
                network.stop(logger: logger)
                throw GatewayFailure(.startFailed, "cannot start the gateway's event loop: \(error)")
            }
            let health: HealthServer
            do {
                health = try await HealthServer(
                    address: healthAddress,
                    group: group,
                    isReady: { portal.isJoined && network.isConfigured },
                    metrics: { PrometheusTextOrder.canonical(registry.emitToString()) }
                )
            } catch {
                network.stop(logger: logger)
                throw GatewayFailure(
                    .healthAddressTaken,
                    "cannot serve health checks on \(healthAddress) (\(error)): another process may use the port; "
                        + "set FIREZONE_HEALTH_CHECK_ADDR to a free address"
                )
            }
            logger.info(
                "Gateway starting",
                metadata: [
                    "gateway.id": "\(id)", "gateway.name": "\(name)",
                    "public.key": "\(LocalIdentity(secret: secret).publicKey)",
                    "udp.port": "\(TunnelSockets.localPort(of: sockets.ipv4).map(String.init) ?? "?")",
                ]
            )

            // 3. The services: started in this order, shut down in the reverse one, so that the portal learns first
            // that the gateway is leaving and the data plane says goodbye to every client last.
            let serviceGroup = ServiceGroup.tunnel(
                [
                    (EventLoopService(loop: loop, teardown: { network.stop(logger: logger) }), "data-plane"),
                    (HealthService(server: health, address: healthAddress, logger: logger), "health"),
                    (portal, "portal"),
                ],
                logger: logger
            )
            try await serviceGroup.run()
            result = .success(())
        } catch {
            result = .failure(error)
        }
        // Every service has returned, so nothing runs on the event loops any more, nor on the data-plane thread:
        // the host's configuration goes (a second time is nothing) whichever way the run ended.
        try await group.shutdownGracefully()
        network.stop(logger: logger)
        sockets.close()
        try result.get()
    }
}
