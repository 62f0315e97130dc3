import CLinuxIO
import IPPacket

/// The routing tables, policy-rule priorities and firewall mark with which connlib steers traffic into
/// `tun-firezone` without looping its own packets back into it (rust/bin-shared/src/tun_device_manager/linux.rs).
///
/// Every packet without the mark is looked up first in ``userRoutesTable`` (priority 100: resources, the tunnel,
/// proxy and sentinel ranges), then in ``linkScopeTable`` (priority 200: the directly connected networks of the
/// main table, so that a LAN stays reachable while the Internet resource is active), then in ``internetTable``
/// (priority 300: the Internet resource's default routes). connlib's own sockets carry ``firewallMark`` and so
/// skip all three rules and use the main table.
public enum TunnelRouting {
    /// The TUN device's name on Linux.
    public static let interfaceName = "tun-firezone"
    /// The TUN device's MTU: 1280, IPv6's minimum link MTU (RFC 8200 §5), so that any path that carries the
    /// encapsulated datagrams carries the inner packets.
    public static let mtu: UInt32 = 1280
    /// The TUN device's transmit queue length (Firezone #10231).
    public static let transmitQueueLength: UInt32 = 10_000

    /// `SO_MARK` of connlib's UDP and TCP sockets; the policy rules match packets without it.
    public static let firewallMark: UInt32 = 0xfd00_2021

    public static let userRoutesTable: UInt32 = 0x2021_fd00
    public static let linkScopeTable: UInt32 = 0x2021_fd01
    public static let internetTable: UInt32 = 0x2021_fd02
    /// The kernel's main table (`RT_TABLE_MAIN`), whose directly connected routes are mirrored.
    public static let mainTable = UInt32(RT_TABLE_MAIN.rawValue)
    /// IPv6 link-local unicast (RFC 4291 §2.5.6): present on every interface, never mirrored.
    static let ipv6LinkLocal = IPNetwork("fe80::/10")!

    public static let userRoutesPriority: UInt32 = 100
    public static let linkScopePriority: UInt32 = 200
    public static let internetPriority: UInt32 = 300

    /// Each rule connlib installs, per address family: (priority, table).
    public static let rules: [(priority: UInt32, table: UInt32)] = [
        (userRoutesPriority, userRoutesTable),
        (linkScopePriority, linkScopeTable),
        (internetPriority, internetTable),
    ]
}
