import Connlib
import ConnlibCore
import Glibc
import IPPacket
import LinuxIO
import Logging
import PortalMessages
import Synchronization

/// The host side of the gateway: the TUN device `tun-firezone`, its addresses and the routes of the tunnel's
/// ranges, IP forwarding, and an nftables table of its own that accepts forwarded tunnel traffic and masquerades
/// it toward the resources (Firezone's gateway leaves this to the init script of its container,
/// scripts/gateway-systemd-install.sh; ours does it itself and removes the table at exit).
///
/// The device's link, addresses, routes and policy rules are ``TunDeviceManager``'s (rtnetlink); forwarding and
/// the table are ``GatewayForwarding``'s.
///
/// `@unchecked Sendable`: ``configure(_:logger:)`` runs on the data-plane thread, ``stop(logger:)`` on the same
/// thread after the loop ended (or before it started); nothing else touches the state.
final class GatewayNetwork: @unchecked Sendable {
    let tun: Int32
    private let device: TunDeviceManager
    private let forwarding: GatewayForwarding
    private var stopped = false
    /// Whether the portal's interface is applied; read by `/readyz` on the health server's thread.
    private let configured = Atomic<Bool>(false)

    private init(tun: Int32, device: TunDeviceManager, forwarding: GatewayForwarding) {
        self.tun = tun
        self.device = device
        self.forwarding = forwarding
    }

    /// Opens the TUN device, turns on forwarding and installs the nftables table, replacing one a killed gateway
    /// left behind.
    static func start(logger: Logger) throws(GatewayFailure) -> GatewayNetwork {
        let tun = TunnelRouting.interfaceName.withCString { fz_tun_open_offload($0) }
        guard tun >= 0 else {
            throw GatewayFailure(
                -tun == EPERM || -tun == EACCES ? .missingCapability : .startFailed,
                "cannot create the TUN device \(TunnelRouting.interfaceName): \(String(cString: strerror(-tun)))"
                    + (-tun == ENOENT || -tun == ENODEV ? " (is /dev/net/tun present? modprobe tun)" : "")
            )
        }
        let device: TunDeviceManager
        do {
            // Also removes the routes and rules a killed gateway left behind.
            device = try TunDeviceManager(logger: logger)
        } catch {
            _ = Glibc.close(tun)
            throw GatewayFailure(
                error.errno == EPERM ? .missingCapability : .startFailed,
                "cannot configure the kernel's routing over rtnetlink: \(error)"
            )
        }
        let network = GatewayNetwork(tun: tun, device: device, forwarding: GatewayForwarding(logger: logger))
        do {
            try network.forwarding.enable()
        } catch {
            network.stop(logger: logger)
            throw GatewayFailure(
                .startFailed,
                "cannot turn on forwarding and masquerade (is the nftables package installed?): \(error)"
            )
        }
        logger.info(
            "TUN device up, forwarding and masquerade on",
            metadata: ["nft.table": "inet \(GatewayForwarding.tableName)"]
        )
        return network
    }

    /// The portal's interface: the link (MTU 1280, txqueuelen 10 000, Firezone #10231, up), its addresses (/32
    /// and /128, old ones removed; the /32 alone on a host without IPv6), and the routes of the tunnel's ranges
    /// through it.
    func configure(_ interface: GatewayInterface, logger: Logger) {
        do {
            try self.device.apply(interface)
            self.configured.store(true, ordering: .releasing)
            logger.info(
                "Tunnel interface configured",
                metadata: ["ipv4": "\(interface.ipv4)", "ipv6": "\(interface.ipv6)"]
            )
        } catch {
            self.configured.store(false, ordering: .releasing)
            logger.error("Cannot configure the tunnel interface: \(error)")
        }
    }

    /// Whether the tunnel interface has the portal's configuration: a gateway whose interface could not be
    /// configured forwards nothing, so it is not ready whatever the portal says.
    var isConfigured: Bool {
        self.configured.load(ordering: .acquiring)
    }

    /// Removes the nftables table, the routes and rules, and closes the TUN device (which removes it). Once.
    func stop(logger: Logger) {
        guard !self.stopped else {
            return
        }
        self.stopped = true
        do {
            try self.device.removeAll()
        } catch {
            logger.warning("Cannot remove the tunnel's routes and rules: \(error)")
        }
        do {
            try self.forwarding.disable()
        } catch {
            logger.warning("Cannot remove the nftables table inet \(GatewayForwarding.tableName): \(error)")
        }
        _ = Glibc.close(self.tun)
    }
}
