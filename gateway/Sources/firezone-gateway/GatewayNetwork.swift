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
/// The device's link, addresses, routes and policy rules are ``TunDeviceManager``'s (rtnetlink).
///
/// `@unchecked Sendable`: ``configure(_:logger:)`` runs on the data-plane thread, ``stop(logger:)`` on the same
/// thread after the loop ended (or before it started); nothing else touches the state.
final class GatewayNetwork: @unchecked Sendable {
    static let tableName = "firezone-gateway"

    let tun: Int32
    private let device: TunDeviceManager
    private var stopped = false
    /// Whether the portal's interface is applied; read by `/readyz` on the health server's thread.
    private let configured = Atomic<Bool>(false)

    private init(tun: Int32, device: TunDeviceManager) {
        self.tun = tun
        self.device = device
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
        let network = GatewayNetwork(tun: tun, device: device)
        do {
            try Self.writeSetting("/proc/sys/net/ipv4/ip_forward", "1")
            // Best effort: a host without IPv6 has no such file.
            try? Self.writeSetting("/proc/sys/net/ipv6/conf/all/forwarding", "1")
            try Self.nft(Self.ruleset(replacing: true))
        } catch {
            network.stop(logger: logger)
            throw error
        }
        logger.info("TUN device up, forwarding and masquerade on", metadata: ["nft.table": "inet \(Self.tableName)"])
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
            try Self.nft("delete table inet \(Self.tableName)\n")
        } catch {
            logger.warning("Cannot remove the nftables table inet \(Self.tableName): \(error)")
        }
        _ = Glibc.close(self.tun)
    }

    /// Accept forwarded traffic from and back to the tunnel, and masquerade what leaves toward the resources.
    static func ruleset(replacing: Bool) -> String {
        let name = TunnelRouting.interfaceName
        let v4 = AddressPlan.tunnelV4
        let v6 = AddressPlan.tunnelV6
        return (replacing ? "table inet \(Self.tableName)\ndelete table inet \(Self.tableName)\n" : "") + """
            table inet \(Self.tableName) {
                chain forward {
                    type filter hook forward priority filter; policy accept;
                    iifname "\(name)" accept
                    oifname "\(name)" ct state established,related accept
                }
                chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
                    ip saddr \(v4) oifname != "\(name)" masquerade
                    ip6 saddr \(v6) oifname != "\(name)" masquerade
                }
            }

            """
    }

    // MARK: Helpers

    /// Writes `value` unless the setting already has it: /proc/sys is root's, so a gateway running as a normal user
    /// with `setcap cap_net_admin+eip` starts where the host already forwards (Firezone's
    /// scripts/gateway-systemd-install.sh sets the same sysctls once).
    private static func writeSetting(_ path: String, _ value: String) throws(GatewayFailure) {
        if Self.readSetting(path) == value {
            return
        }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        var bytes = Array(value.utf8)
        guard fd >= 0, Glibc.write(fd, &bytes, bytes.count) == bytes.count else {
            let error = errno
            if fd >= 0 {
                _ = close(fd)
            }
            let hint =
                error == EACCES || error == EPERM
                ? " (a gateway that is not root needs it set beforehand: sysctl -w "
                    + path.dropFirst("/proc/sys/".count).split(separator: "/").joined(separator: ".") + "=\(value))" : ""
            throw GatewayFailure(
                .startFailed,
                "cannot write \(value) to \(path): \(String(cString: strerror(error)))\(hint)"
            )
        }
        _ = close(fd)
    }

    /// The setting's first line, or nil when it cannot be read.
    private static func readSetting(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return nil
        }
        defer { _ = close(fd) }
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else {
            return nil
        }
        return String(decoding: bytes[..<count], as: UTF8.self).split(separator: "\n").first.map(String.init)
    }

    private static func nft(_ script: String) throws(GatewayFailure) {
        let result: ChildProcess.Result
        do {
            result = try ChildProcess.run("nft", ["-f", "-"], input: script)
        } catch {
            throw GatewayFailure(.startFailed, "cannot run nft (is the nftables package installed?): \(error)")
        }
        guard result.status == 0 else {
            throw GatewayFailure(.startFailed, "nft failed (status \(result.status)): \(result.output)")
        }
    }
}
