import Connlib
import ConnlibCore
import Glibc
import LinuxIO
import Logging

/// The host side of the client: the TUN device `tun-firezone`, its addresses, routes and policy rules
/// (``TunDeviceManager``), applied from each TUN configuration the client's state hands out, and removed at exit.
///
/// `@unchecked Sendable`: ``configure(_:)`` runs on the data-plane thread, ``stop()`` on the same thread after the
/// loop ended (or before it started); nothing else touches the state.
final class ClientNetwork: @unchecked Sendable {
    let tun: Int32
    private let manager: TunDeviceManager
    private let logger: Logger
    private var stopped = false

    private init(tun: Int32, manager: TunDeviceManager, logger: Logger) {
        self.tun = tun
        self.manager = manager
        self.logger = logger
    }

    /// Opens the TUN device and the routing socket, removing what a killed earlier run left in connlib's tables.
    static func start(logger: Logger) throws(HeadlessClientFailure) -> ClientNetwork {
        let name = TunnelRouting.interfaceName
        let tun = name.withCString { fz_tun_open_offload($0) }
        guard tun >= 0 else {
            let kind: HeadlessClientFailure.Kind
            var advice = ""
            switch -tun {
            case EPERM, EACCES:
                kind = .missingCapability
                advice = ": the client needs CAP_NET_ADMIN; run it as root, or grant it once with "
                    + "`sudo setcap cap_net_admin+eip \(CommandLine.arguments[0])`"
            case EBUSY:
                kind = .deviceTaken
                advice = ": another process holds it; is another client running?"
            case ENOENT, ENODEV:
                kind = .startFailed
                advice = " (is /dev/net/tun present? modprobe tun)"
            default:
                kind = .startFailed
            }
            throw HeadlessClientFailure(
                kind,
                "cannot create the TUN device \(name) (\(String(cString: strerror(-tun))))\(advice)"
            )
        }
        let manager: TunDeviceManager
        do {
            manager = try TunDeviceManager(logger: logger)
        } catch {
            _ = close(tun)
            throw HeadlessClientFailure(
                error.errno == EPERM ? .missingCapability : .startFailed,
                "cannot set up routing for \(name): \(error)"
            )
        }
        return ClientNetwork(tun: tun, manager: manager, logger: logger)
    }

    /// Addresses, routes and rules of the latest configuration.
    func configure(_ config: TunConfig) {
        do {
            try self.manager.apply(config)
            self.logger.info(
                "Tunnel interface configured",
                metadata: ["tun.ipv4": "\(config.ipv4)", "tun.ipv6": "\(config.ipv6)", "routes": "\(config.routes.count)"]
            )
        } catch {
            self.logger.error("Cannot configure the tunnel interface", metadata: ["error": "\(error)"])
        }
    }

    /// Removes the routes and rules and closes the TUN device (which removes it). Once.
    func stop() {
        guard !self.stopped else {
            return
        }
        self.stopped = true
        do {
            try self.manager.removeAll()
        } catch {
            self.logger.warning("Cannot remove the tunnel's routes and rules", metadata: ["error": "\(error)"])
        }
        _ = close(self.tun)
    }
}
