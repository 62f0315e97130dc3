import ConnlibCore
import Glibc
import LinuxIO
import Logging

/// What the gateway needs from the kernel to forward clients' packets to resources: IP forwarding on, and an
/// nftables table of its own (`inet firezone-gateway`) that accepts forwarding from the TUN device and the replies
/// back to it, and masquerades the tunnel's ranges behind the gateway's addresses (rust/gateway/src/main.rs).
///
/// The ruleset goes through `nft -f -`: nft(8) is the supported interface of nf_tables, whose netlink messages
/// are not a stable interface of their own, and one `-f` batch is one transaction, so the table is replaced
/// atomically. No other table is read or touched. An accept in this table does not override a drop in another
/// table at the same hook (nft(8), "base chain"); a host with a dropping FORWARD policy of its own must allow
/// the tunnel there too.
///
/// IP forwarding stays on at exit: other services of the host may rely on it, and turning it off is the
/// administrator's decision. A setting that already has its value is not written: /proc/sys is root's, and a
/// gateway running as a normal user with `setcap cap_net_admin+eip` starts where the host forwards already
/// (Firezone's scripts/gateway-systemd-install.sh sets the same sysctls once). IPv6 forwarding is best effort: a
/// host without IPv6 has no such setting.
public final class GatewayForwarding {
    public static let tableName = "firezone-gateway"

    public let interfaceName: String
    /// `/proc/sys/net` (a parameter so that tests can point elsewhere).
    public let procSysNet: String
    /// The `nft` program, a path or a name looked up in PATH.
    public let nft: String
    private let logger: Logger

    public init(
        interfaceName: String = TunnelRouting.interfaceName,
        procSysNet: String = "/proc/sys/net",
        nft: String = "nft",
        logger: Logger
    ) {
        self.interfaceName = interfaceName
        self.procSysNet = procSysNet
        self.nft = nft
        self.logger = logger
    }

    /// Turns IP forwarding on and installs the table, replacing one a previous run left.
    public func enable() throws {
        try Self.writeSysctl("\(self.procSysNet)/ipv4/ip_forward", "1")
        do {
            try Self.writeSysctl("\(self.procSysNet)/ipv6/conf/all/forwarding", "1")
        } catch {
            self.logger.info("IPv6 forwarding stays as it is", metadata: ["error": "\(error)"])
        }
        try ChildProcess.runChecked(self.nft, ["-f", "-"], input: Self.ruleset(interfaceName: self.interfaceName))
        self.logger.debug("Gateway forwarding enabled", metadata: ["nft.table": "inet \(Self.tableName)"])
    }

    /// A sysctl file is written in place, never replaced, and only when it does not have `value` already.
    private static func writeSysctl(_ path: String, _ value: String) throws(SystemCallError) {
        if Self.firstLine(of: path) == value {
            return
        }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let error = errno
            let setting = path.split(separator: "/").drop { $0 != "net" }.joined(separator: ".")
            let hint =
                error == EACCES || error == EPERM
                ? " (a gateway that is not root needs it set beforehand: sysctl -w \(setting)=\(value))" : ""
            throw SystemCallError(operation: "open \(path)\(hint)", errno: error)
        }
        defer { close(fd) }
        let line = value + "\n"
        let written = line.withCString { write(fd, $0, strlen($0)) }
        guard written == line.utf8.count else {
            throw SystemCallError(operation: "write \(path)", errno: written < 0 ? errno : EIO)
        }
    }

    /// The setting's first line, or nil when it cannot be read.
    private static func firstLine(of path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return nil
        }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else {
            return nil
        }
        return String(decoding: bytes[..<count], as: UTF8.self).split(separator: "\n").first.map(String.init)
    }

    /// Removes the table; nothing happens when it is not there.
    public func disable() throws {
        try ChildProcess.runChecked(self.nft, ["-f", "-"], input: Self.removal)
    }

    /// Declaring the table first makes the deletion succeed whether or not a previous run left it, in the same
    /// transaction as the new table.
    static var removal: String {
        "table inet \(Self.tableName)\ndelete table inet \(Self.tableName)\n"
    }

    static func ruleset(interfaceName: String) -> String {
        """
        \(Self.removal)\
        table inet \(Self.tableName) {
            chain forward {
                type filter hook forward priority filter; policy accept;
                iifname "\(interfaceName)" accept
                oifname "\(interfaceName)" ct state established,related accept
            }
            chain postrouting {
                type nat hook postrouting priority srcnat; policy accept;
                ip saddr \(AddressPlan.tunnelV4) oifname != "\(interfaceName)" masquerade
                ip6 saddr \(AddressPlan.tunnelV6) oifname != "\(interfaceName)" masquerade
            }
        }

        """
    }
}
