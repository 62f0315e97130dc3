import Connlib
import ConnlibCore
import Glibc
import IPPacket
import LinuxIO
import Logging

/// The host side of the client: the TUN device `tun-firezone`, its addresses, routes and policy rules
/// (``TunDeviceManager``) and the system's resolver (``DNSController``), applied from each TUN configuration the
/// client's state hands out, and restored at exit.
///
/// `@unchecked Sendable`: ``configure(_:)`` runs on the data-plane thread, ``stop()`` on the same thread after the
/// loop ended (or before it started); nothing else touches the state.
final class ClientNetwork: @unchecked Sendable {
    let tun: Int32
    private let manager: TunDeviceManager
    private let dns: DNSController
    /// The system's resolvers, never the stub's sentinels: read at start and after each network change.
    private(set) var systemResolvers: [IPSocketAddress]
    private let logger: Logger
    private var stopped = false

    private init(
        tun: Int32,
        manager: TunDeviceManager,
        dns: DNSController,
        systemResolvers: [IPSocketAddress],
        logger: Logger
    ) {
        self.tun = tun
        self.manager = manager
        self.dns = dns
        self.systemResolvers = systemResolvers
        self.logger = logger
    }

    /// Opens the TUN device and the routing socket, removing what a killed earlier run left in connlib's tables and
    /// resolv.conf, and reads the system's resolvers.
    static func start(dnsControl: DNSControlMethod, logger: Logger) throws(HeadlessClientFailure) -> ClientNetwork {
        let name = TunnelRouting.interfaceName
        let tun = name.withCString { fz_tun_open_offload($0) }
        guard tun >= 0 else {
            let kind: HeadlessClientExitStatus
            var advice = ""
            switch -tun {
            case EPERM, EACCES:
                kind = .missingCapability
                advice =
                    ": the client needs CAP_NET_ADMIN; run it as root, or grant it once with "
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
        let dns: DNSController
        let resolvers: [IPAddress]
        do {
            dns = try DNSController(method: dnsControl, logger: logger)
            resolvers = try dns.systemResolvers()
        } catch {
            try? manager.removeAll()
            _ = close(tun)
            throw HeadlessClientFailure(
                .startFailed,
                "cannot read the system's resolvers for DNS control \(dnsControl.rawValue): \(error); set "
                    + "FIREZONE_DNS_CONTROL to another method, or disabled"
            )
        }
        return ClientNetwork(
            tun: tun,
            manager: manager,
            dns: dns,
            systemResolvers: resolvers.map { IPSocketAddress($0, port: 53) },
            logger: logger
        )
    }

    /// Addresses, routes and rules of the latest configuration.
    func configure(_ config: TunConfig) {
        do {
            try self.manager.apply(config)
            self.logger.info(
                "Tunnel interface configured",
                metadata: [
                    "tun.ipv4": "\(config.ipv4)", "tun.ipv6": "\(config.ipv6)", "routes": "\(config.routes.count)",
                ]
            )
        } catch {
            self.logger.error("Cannot configure the tunnel interface", metadata: ["error": "\(error)"])
        }
        do {
            try self.dns.apply(sentinels: config.dnsBySentinel.map(\.sentinel), searchDomain: config.searchDomain)
        } catch {
            self.logger.error("Cannot point the system's resolver at the tunnel", metadata: ["error": "\(error)"])
        }
    }

    /// The host's networks changed: the directly connected ones stay outside the tunnel, and the system's resolvers
    /// are read again (a new network brings its own, from DHCP or router advertisements). Returns them when they
    /// changed.
    func networkChanged() -> [IPSocketAddress]? {
        do {
            try self.manager.refreshLinkScopeRoutes()
        } catch {
            self.logger.warning("Cannot refresh the link-scope routes", metadata: ["error": "\(error)"])
        }
        let resolvers: [IPSocketAddress]
        do {
            resolvers = try self.dns.systemResolvers().map { IPSocketAddress($0, port: 53) }
        } catch {
            self.logger.warning(
                "Cannot read the system's resolvers again; keeping the previous ones",
                metadata: ["error": "\(error)"]
            )
            return nil
        }
        guard resolvers != self.systemResolvers else {
            return nil
        }
        self.logger.info("The system's resolvers changed", metadata: ["resolvers": "\(resolvers)"])
        self.systemResolvers = resolvers
        return resolvers
    }

    /// Removes the routes and rules and closes the TUN device (which removes it). Once.
    func stop() {
        guard !self.stopped else {
            return
        }
        self.stopped = true
        do {
            try self.dns.restore()
        } catch {
            self.logger.warning("Cannot restore the system's resolver", metadata: ["error": "\(error)"])
        }
        do {
            try self.manager.removeAll()
        } catch {
            self.logger.warning("Cannot remove the tunnel's routes and rules", metadata: ["error": "\(error)"])
        }
        _ = close(self.tun)
    }
}
