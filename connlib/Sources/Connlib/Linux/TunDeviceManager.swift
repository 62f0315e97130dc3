import ConnlibCore
import Glibc
import IPPacket
import LinuxIO
import Logging
import PortalMessages

/// Applies the tunnel's configuration to the TUN device and the kernel's routing (rust/bin-shared/src/
/// tun_device_manager/linux.rs): the link's MTU, queue length and addresses, the routes into the device in
/// connlib's tables, the policy rules that send every packet without connlib's mark to those tables, and the
/// directly connected networks mirrored so that they bypass the tunnel.
///
/// The device itself is opened elsewhere (LinuxIO's TUN with offloads); this type only configures it by name.
/// Nothing it installs outlives the process for long: ``removeAll()`` on exit, and ``init`` removes whatever a
/// killed previous run left in connlib's tables and rules.
public final class TunDeviceManager {
    public let interfaceName: String
    private let netlink: RouteNetlink
    private let logger: Logger
    /// The routes this manager installed, in the order it installed them.
    private var installedRoutes: [KernelRoute] = []
    /// The main table's directly connected routes as mirrored into ``TunnelRouting/linkScopeTable``.
    private var mirroredRoutes: [KernelRoute] = []
    private var addresses: (ipv4: IPv4Address, ipv6: IPv6Address)?
    private var rulesInstalled = false
    /// Whether the device takes IPv6 addresses and routes; nil until the device was first configured.
    private var ipv6Enabled: Bool?
    /// Where the kernel says whether a device has IPv6 (ip-sysctl.rst, `conf/<interface>/disable_ipv6`).
    private let ipv6SettingsDirectory: String

    /// Opens the netlink socket and removes a previous run's rules and routes.
    public init(
        interfaceName: String = TunnelRouting.interfaceName,
        ipv6SettingsDirectory: String = "/proc/sys/net/ipv6/conf",
        logger: Logger
    ) throws(SystemCallError) {
        self.interfaceName = interfaceName
        self.ipv6SettingsDirectory = ipv6SettingsDirectory
        self.netlink = try RouteNetlink()
        self.logger = logger
        try self.removeLeftovers()
    }

    // MARK: Applying a configuration

    /// The client's configuration: addresses (only when they changed), routes, the policy rules once, and the
    /// mirrored link-scope routes.
    public func apply(_ config: TunConfig) throws(SystemCallError) {
        try self.setAddresses(ipv4: config.ipv4, ipv6: config.ipv6)
        try self.setRoutes(config.routes)
        try self.installRules()
        try self.refreshLinkScopeRoutes()
    }

    /// The gateway's configuration: its addresses and the routes of the tunnel ranges (``AddressPlan/gatewayRoutes``).
    public func apply(_ interface: GatewayInterface) throws(SystemCallError) {
        try self.setAddresses(ipv4: interface.ipv4, ipv6: interface.ipv6)
        try self.setRoutes(AddressPlan.gatewayRoutes)
        try self.installRules()
    }

    /// Whether the device has IPv6: false on a host booted with `ipv6.disable=1` (no `net/ipv6` in /proc/sys) or
    /// where `disable_ipv6` is set for it (`net.ipv6.conf.all.disable_ipv6=1` sets it for every device, and the
    /// default for new ones). The kernel refuses IPv6 addresses and routes on such a device ("IPv6 is disabled on
    /// this device"), so the tunnel runs on IPv4 alone there. Decided when the device is first configured, and
    /// logged once.
    public func hasIPv6() -> Bool {
        if let known = self.ipv6Enabled {
            return known
        }
        let setting = Self.firstLine(of: "\(self.ipv6SettingsDirectory)/\(self.interfaceName)/disable_ipv6")
        let enabled: Bool
        switch setting {
        case .success(let value): enabled = value != "1"
        // No settings at all: the kernel has no IPv6. Settings but not this device's: let the kernel answer.
        case .failure: enabled = access(self.ipv6SettingsDirectory, F_OK) == 0
        }
        self.ipv6Enabled = enabled
        if !enabled {
            self.logger.info(
                "IPv6 is disabled on this host: the tunnel interface gets its IPv4 address and routes only",
                metadata: ["tun.name": "\(self.interfaceName)"]
            )
        }
        return enabled
    }

    /// Configures the link (MTU 1280, txqueuelen 10 000, no IPv6 link-local address, up) and replaces its
    /// addresses with `ipv4`/32 and `ipv6`/128 (without IPv6 on the host, ``hasIPv6()``: `ipv4`/32 alone). Does
    /// nothing when these addresses are already applied.
    public func setAddresses(ipv4: IPv4Address, ipv6: IPv6Address) throws(SystemCallError) {
        if let current = self.addresses, current == (ipv4, ipv6) {
            return
        }
        let index = try self.netlink.interfaceIndex(named: self.interfaceName)
        let withIPv6 = self.hasIPv6()
        if withIPv6 {
            // Before the link comes up, so that the kernel never generates an fe80:: address for it.
            try self.netlink.disableIPv6LinkLocal(index: index)
        }
        try self.netlink.configureLink(
            index: index,
            mtu: TunnelRouting.mtu,
            transmitQueueLength: TunnelRouting.transmitQueueLength
        )
        let wanted: [(address: IPAddress, prefixLength: UInt8)] =
            withIPv6 ? [(.v4(ipv4), 32), (.v6(ipv6), 128)] : [(.v4(ipv4), 32)]
        for existing in try self.netlink.addresses(index: index)
        where !wanted.contains(where: { $0 == existing }) {
            try Self.ignoring([EADDRNOTAVAIL]) { () throws(SystemCallError) in
                try self.netlink.deleteAddress(existing.address, prefixLength: existing.prefixLength, index: index)
            }
        }
        for address in wanted {
            try self.netlink.addAddress(address.address, prefixLength: address.prefixLength, index: index)
        }
        self.addresses = (ipv4, ipv6)
        self.logger.debug(
            "TUN addresses set",
            metadata: ["tun.ipv4": "\(ipv4)", "tun.ipv6": "\(ipv6)", "tun.name": "\(self.interfaceName)"]
        )
    }

    /// Routes `networks` into the device: default routes (the Internet resource) in ``TunnelRouting/internetTable``,
    /// everything else in ``TunnelRouting/userRoutesTable``. Only the difference to the installed set changes, so
    /// that a flow on a route that stays is never interrupted.
    public func setRoutes(_ networks: [IPNetwork]) throws(SystemCallError) {
        let index = try self.netlink.interfaceIndex(named: self.interfaceName)
        let withIPv6 = self.hasIPv6()
        var wanted: [KernelRoute] = []
        wanted.reserveCapacity(networks.count)
        for network in networks {
            if case .v6 = network.address, !withIPv6 {
                continue
            }
            let table = network.prefixLength == 0 ? TunnelRouting.internetTable : TunnelRouting.userRoutesTable
            let route = KernelRoute(destination: network, interfaceIndex: index, table: table)
            if !wanted.contains(route) {
                wanted.append(route)
            }
        }
        let wantedSet = Set(wanted)
        let installedSet = Set(self.installedRoutes)
        for route in self.installedRoutes where !wantedSet.contains(route) {
            try Self.ignoring([ESRCH, ENOENT]) { () throws(SystemCallError) in try self.netlink.deleteRoute(route) }
        }
        for route in wanted where !installedSet.contains(route) {
            try self.netlink.addRoute(route)
        }
        self.installedRoutes = wanted
        self.logger.debug("TUN routes set", metadata: ["tun.routes": "\(wanted.count)"])
    }

    /// Adds the rules 100, 200 and 300 for IPv4 and IPv6, matching every packet without connlib's mark. A kernel
    /// without policy routing or fwmark rules gets a warning, not a failure: the tunnel then works for everything
    /// but the routes in these tables (Firezone logs the same).
    public func installRules() throws(SystemCallError) {
        guard !self.rulesInstalled else { return }
        for version in [IPVersion.v4, .v6] {
            for (priority, table) in TunnelRouting.rules {
                let rule = PolicyRule(
                    version: version,
                    priority: priority,
                    table: table,
                    notFirewallMark: TunnelRouting.firewallMark
                )
                do {
                    try self.netlink.addRule(rule)
                } catch  where error.errno == EEXIST {
                    continue
                } catch  where [EOPNOTSUPP, EAFNOSUPPORT, EINVAL].contains(error.errno) {
                    self.logger.warning(
                        "The kernel refused a policy rule; routes into the tunnel will not apply",
                        metadata: ["rule": "\(rule)", "error": "\(error)"]
                    )
                }
            }
        }
        self.rulesInstalled = true
    }

    /// Mirrors the main table's directly connected networks into ``TunnelRouting/linkScopeTable`` (priority 200),
    /// so that the local network stays reachable past the Internet resource's default routes. Call it again when
    /// the network changes (``NetworkChangeMonitor``); only the difference changes.
    public func refreshLinkScopeRoutes() throws(SystemCallError) {
        let tunIndex = try? self.netlink.interfaceIndex(named: self.interfaceName)
        var wanted: [KernelRoute] = []
        for version in self.hasIPv6() ? [IPVersion.v4, .v6] : [.v4] {
            for entry in try self.netlink.routes(version) where Self.isDirectlyConnected(entry, excluding: tunIndex) {
                var route = entry.route
                route.table = TunnelRouting.linkScopeTable
                wanted.append(route)
            }
        }
        let wantedSet = Set(wanted)
        let mirroredSet = Set(self.mirroredRoutes)
        for route in self.mirroredRoutes where !wantedSet.contains(route) {
            try Self.ignoring([ESRCH, ENOENT]) { () throws(SystemCallError) in try self.netlink.deleteRoute(route) }
        }
        for route in wanted where !mirroredSet.contains(route) {
            do {
                try self.netlink.addRoute(route)
            } catch  where error.errno == ENETDOWN || error.errno == ENODEV {
                // The link went away between the dump and now; the next change notification brings the new state.
                continue
            }
        }
        self.mirroredRoutes = wanted
    }

    /// A main-table route without a gateway, through another interface than the tunnel and not a default route:
    /// IPv4's scope-link routes, IPv6's prefix routes (fe80::/64 excepted, which every interface has).
    private static func isDirectlyConnected(
        _ entry: (route: KernelRoute, viaGateway: Bool),
        excluding tun: Int32?
    )
        -> Bool
    {
        let route = entry.route
        guard route.table == TunnelRouting.mainTable, !entry.viaGateway, route.interfaceIndex != tun,
            route.destination.prefixLength > 0
        else { return false }
        switch route.destination.address {
        case .v4: return route.scope == KernelRoute.linkScope
        case .v6: return !TunnelRouting.ipv6LinkLocal.contains(route.destination)
        }
    }

    /// The first line of a small kernel setting file, or the errno that kept it from being read.
    private static func firstLine(of path: String) -> Result<String, SystemCallError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return .failure(SystemCallError(operation: "open \(path)", errno: errno))
        }
        defer { _ = close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count >= 0 else {
            return .failure(SystemCallError(operation: "read \(path)", errno: errno))
        }
        let text = String(decoding: bytes[..<count], as: UTF8.self)
        return .success(text.split(separator: "\n").first.map(String.init) ?? "")
    }

    // MARK: Removing

    /// Removes the rules and every route this manager installed; the addresses go with the device.
    public func removeAll() throws(SystemCallError) {
        for route in self.installedRoutes + self.mirroredRoutes {
            try Self.ignoring([ESRCH, ENOENT, ENODEV]) { () throws(SystemCallError) in
                try self.netlink.deleteRoute(route)
            }
        }
        self.installedRoutes.removeAll()
        self.mirroredRoutes.removeAll()
        try self.removeRules()
        self.rulesInstalled = false
        self.addresses = nil
    }

    /// What a previous run killed before ``removeAll()`` left: every route in connlib's three tables and every
    /// rule with one of connlib's priorities that points at one of them. Other tables and rules are not touched.
    public func removeLeftovers() throws(SystemCallError) {
        let tables = TunnelRouting.rules.map(\.table)
        for version in [IPVersion.v4, .v6] {
            for entry in try self.netlink.routes(version) where tables.contains(entry.route.table) {
                try Self.ignoring([ESRCH, ENOENT]) { () throws(SystemCallError) in
                    try self.netlink.deleteRoute(entry.route)
                }
            }
        }
        try self.removeRules()
    }

    private func removeRules() throws(SystemCallError) {
        for version in [IPVersion.v4, .v6] {
            let rules: [PolicyRule]
            do {
                rules = try self.netlink.rules(version)
            } catch  where [EOPNOTSUPP, EAFNOSUPPORT].contains(error.errno) {
                continue
            }
            for rule in rules where TunnelRouting.rules.contains(where: { $0 == (rule.priority, rule.table) }) {
                try Self.ignoring([ENOENT, ESRCH]) { () throws(SystemCallError) in try self.netlink.deleteRule(rule) }
            }
        }
    }

    /// Runs `body`, treating the listed errnos as success (a route already gone, an address already removed).
    private static func ignoring(_ errnos: [Int32], _ body: () throws(SystemCallError) -> Void) throws(SystemCallError)
    {
        do {
            try body()
        } catch  where errnos.contains(error.errno) {
            return
        }
    }
}
