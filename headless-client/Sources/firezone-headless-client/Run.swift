import ArgumentParser
import Connlib
import Dispatch
import FirezoneCommand
import FirezoneCrypto
import FirezoneOptions
import Glibc
import HeadlessClient
import IPPacket
import LinuxIO
import Logging
import NIOPosix
import PortalMessages
import ServiceLifecycle
import WireGuard

/// `firezone-headless-client run` (the default): the client until SIGTERM or SIGINT.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to the portal and tunnel the resources it allows (the default command)."
    )

    @Option(name: .customLong("token-path"), help: "Token file (env FIREZONE_TOKEN_PATH).")
    var tokenPath: String?
    @Option(name: .customLong("firezone-id"), help: "The device's ID (env FIREZONE_ID).")
    var id: String?
    @Option(name: .customLong("id-path"), help: "Where a generated ID is kept (env FIREZONE_ID_PATH).")
    var idPath: String?
    @Option(name: .customLong("firezone-name"), help: "Name shown in the portal (env FIREZONE_NAME).")
    var name: String?
    @Option(name: .customLong("api-url"), help: "Portal URL (env FIREZONE_API_URL).")
    var apiURL: String?
    @Option(
        name: .customLong("dns-control"),
        help: "systemd-resolved, etc-resolv-conf or disabled (env FIREZONE_DNS_CONTROL)."
    )
    var dnsControl: String?
    @Option(
        name: .customLong("activate-internet-resource"),
        help: "true or false (env FIREZONE_ACTIVATE_INTERNET_RESOURCE)."
    )
    var activateInternetResource: String?
    @Option(name: .customLong("log-dir"), help: "Also log to a file in this directory (env LOG_DIR).")
    var logDirectory: String?
    @Option(
        name: .customLong("max-partition-time"),
        help: "How long the portal may be unreachable (env MAX_PARTITION_TIME)."
    )
    var maxPartitionTime: String?
    @Option(name: .customLong("status-path"), help: "Status file (env FIREZONE_STATUS_PATH).")
    var statusPath: String?

    var flags: HeadlessClientOptions.Flags {
        var flags = HeadlessClientOptions.Flags()
        flags.tokenPath = self.tokenPath
        flags.id = self.id
        flags.idPath = self.idPath
        flags.name = self.name
        flags.apiURL = self.apiURL
        flags.dnsControl = self.dnsControl
        flags.activateInternetResource = self.activateInternetResource
        flags.logDirectory = self.logDirectory
        flags.maxPartitionTime = self.maxPartitionTime
        flags.statusPath = self.statusPath
        return flags
    }

    func run() async throws {
        // 1. Options: every usage error surfaces here, before anything starts.
        let reader = OptionReader(environment: OptionReader.processEnvironment())
        let options = try HeadlessClientOptions(self.flags, reader: reader)
        let buffers = try UDPSocketBuffers(reader: reader, role: .client)
        let logger = ExecutableLogger.make(
            label: "firezone-headless-client",
            level: options.logLevel,
            directory: options.logDirectory
        )

        // 2. What can fail to start, in the order it is needed.
        let network = try ClientNetwork.start(dnsControl: options.dnsControl, logger: logger)
        var id = options.id ?? ""
        if options.id == nil {
            do throws(PersistentDeviceID.Failure) {
                id = try PersistentDeviceID.resolve(path: options.idPath)
            } catch {
                network.stop()
                throw HeadlessClientFailure(.startFailed, error.description)
            }
        }
        let name = options.name ?? HostName.current() ?? id
        if buffers.raisesKernelLimits {
            for failure in KernelSocketBufferLimits().raise(toFit: buffers) {
                logger.warning("\(failure)")
            }
        }
        let sockets: TunnelSockets
        do {
            sockets = try TunnelSockets(buffers: buffers)
        } catch {
            network.stop()
            let kind: HeadlessClientExitStatus =
                switch error.errno {
                case EPERM, EACCES: .missingCapability
                case EADDRINUSE: .deviceTaken
                default: .startFailed
                }
            throw HeadlessClientFailure(kind, "cannot open the tunnel's UDP sockets: \(error)")
        }
        var generator = SystemRandomNumberGenerator()
        let secret = StaticSecret.random(using: &generator)
        let resetRequest: ResetRequest
        let networkChanges: NetworkChangeMonitor
        do {
            resetRequest = try ResetRequest()
            networkChanges = try NetworkChangeMonitor()
        } catch {
            network.stop()
            throw HeadlessClientFailure(.startFailed, "cannot start the event loop: \(error)")
        }
        // SIGHUP resets every connection, as a network change does (Firezone's rust/headless-client/src/main.rs).
        signal(SIGHUP, SIG_IGN)
        let hangups = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangups.setEventHandler { resetRequest.request() }
        hangups.resume()
        defer { hangups.cancel() }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let result: Result<Void, any Error>
        do {
            let portal = try PortalBridge<ClientTopic>(
                configuration: try ClientPortalConfiguration.make(
                    options,
                    id: id,
                    name: name,
                    publicKey: LocalIdentity(secret: secret).publicKey
                ),
                group: group,
                logger: logger
            )
            let loop: ClientEventLoop
            do {
                loop = try ClientEventLoop(
                    secret: secret,
                    sockets: sockets,
                    tun: network.tun,
                    portal: portal,
                    systemResolvers: network.systemResolvers,
                    activateInternetResource: options.activateInternetResource,
                    resetRequest: resetRequest,
                    networkChanges: networkChanges,
                    statusFile: StatusFile(path: options.statusPath),
                    configureTunnel: { config in network.configure(config) },
                    networkChanged: { network.networkChanged() },
                    logger: logger
                )
            } catch {
                network.stop()
                throw HeadlessClientFailure(.startFailed, "cannot start the client's event loop: \(error)")
            }
            logger.info(
                "Client starting",
                metadata: [
                    "client.name": "\(name)", "public.key": "\(loop.publicKey)",
                    "dns.control": "\(options.dnsControl.rawValue)",
                ]
            )

            // 3. The services: started in this order, shut down in the reverse one, so that the portal learns
            // first that the client is leaving and the data plane says goodbye to every gateway last.
            let serviceGroup = ServiceGroup.tunnel(
                [
                    (EventLoopService(loop: loop, teardown: { network.stop() }), "data-plane"),
                    (portal, "portal"),
                ],
                logger: logger
            )
            try await serviceGroup.run()
            result = .success(())
        } catch {
            network.stop()
            result = .failure(error)
        }
        // Every service has returned, so nothing runs on the event loops any more.
        try await group.shutdownGracefully()
        sockets.close()
        try result.get()
    }
}
