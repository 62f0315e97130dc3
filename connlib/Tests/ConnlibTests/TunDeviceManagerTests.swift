import Connlib
import ConnlibCore
import FirezoneTesting
import Foundation
import Glibc
import IPPacket
import LinuxIO
import Logging
import Testing

@Suite(.enabled(if: PrivilegedTests.enabled, "needs root: network namespaces, TUN devices, routes and rules"))
struct TunDeviceManagerTests {
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    static let ipv4 = IPv4Address("100.64.0.7")!
    static let ipv6 = IPv6Address("fd00:2021:1111::7")!
    /// connlib's three tables as `ip -j` prints them (decimal).
    static let ourTables = TunnelRouting.rules.map { "\($0.table)" }

    static func config(routes: [String]) -> TunConfig {
        TunConfig(
            ipv4: ipv4,
            ipv6: ipv6,
            routes: routes.map { IPNetwork($0)! },
            dnsBySentinel: [],
            searchDomain: nil
        )
    }

    /// The destinations of the routes in `table` of one family, as `ip -j route show table` lists them; a table
    /// the kernel never created has none.
    static func destinations(table: UInt32, family: String = "-4") throws -> [String] {
        do {
            return try NetworkNamespace.ipJSON(family, "route", "show", "table", "\(table)")
                .compactMap { $0["dst"] as? String }.sorted()
        } catch let error as CommandError where error.output.contains("FIB table does not exist") {
            return []
        }
    }

    /// connlib's rules of one family as (priority, table, "not fwmark" mark).
    static func ourRules(family: String) throws -> [String] {
        try NetworkNamespace.ipJSON(family, "rule", "show").compactMap { rule in
            guard let table = rule["table"] as? String, Self.ourTables.contains(table) else { return nil }
            let negated = rule["not"] != nil ? "not " : ""
            return "\(rule["priority"] ?? "?") \(negated)fwmark \(rule["fwmark"] ?? "-") table \(table)"
        }
    }

    /// Every route in connlib's tables and every rule pointing at them, both families.
    static func everythingOfConnlib() throws -> [String] {
        var found: [String] = []
        for family in ["-4", "-6"] {
            for (_, table) in TunnelRouting.rules {
                found += try Self.destinations(table: table, family: family).map { "route \($0) table \(table)" }
            }
            found += try Self.ourRules(family: family).map { "rule \($0)" }
        }
        return found
    }

    static func withTUN<Observed: Sendable>(_ body: @escaping @Sendable () throws -> Observed) throws -> Observed {
        try NetworkNamespace.run {
            let tun = try NetworkNamespace.openTUN(TunnelRouting.interfaceName)
            defer { close(tun) }
            return try body()
        }
    }

    @Test func addressesAreReplacedByTheTunnelAddressesOnAConfiguredLink() throws {
        struct Link: Sendable {
            var mtu: Int?
            var txqlen: Int?
            var up: Bool
            var addrGenMode: String
            var addresses: [String]
        }
        let link = try Self.withTUN {
            try NetworkNamespace.ip("address", "add", "10.9.9.9/24", "dev", TunnelRouting.interfaceName)
            try NetworkNamespace.ip("address", "add", "fd09::9/64", "dev", TunnelRouting.interfaceName, "nodad")

            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.setAddresses(ipv4: Self.ipv4, ipv6: Self.ipv6)

            let shown = try NetworkNamespace.ipJSON("-d", "address", "show", "dev", TunnelRouting.interfaceName)
            let link = shown.first ?? [:]
            // /proc/sys resolves against this thread's namespace.
            let mode = try String(
                contentsOfFile: "/proc/sys/net/ipv6/conf/\(TunnelRouting.interfaceName)/addr_gen_mode",
                encoding: .utf8
            )
            return Link(
                mtu: link["mtu"] as? Int,
                txqlen: link["txqlen"] as? Int,
                up: (link["flags"] as? [String])?.contains("UP") == true,
                addrGenMode: mode.trimmingCharacters(in: .whitespacesAndNewlines),
                addresses: (link["addr_info"] as? [[String: Any]] ?? []).map {
                    "\($0["local"] ?? "?")/\($0["prefixlen"] ?? "?")"
                }.sorted()
            )
        }
        #expect(link.mtu == 1280)
        #expect(link.txqlen == 10_000)
        #expect(link.up)
        #expect(link.addrGenMode == "1")  // IN6_ADDR_GEN_MODE_NONE
        #expect(link.addresses == ["100.64.0.7/32", "fd00:2021:1111::7/128"])
    }

    @Test func withIPv6DisabledTheTunnelGetsItsIPv4AddressAndRoutesOnly() throws {
        struct Seen: Sendable {
            var hasIPv6: Bool
            var addresses: [String]
            var routes: [[String]]
        }
        let seen = try NetworkNamespace.run {
            // Before the device exists: `all` also sets the default that new devices take.
            try NetworkNamespace.command("sysctl", ["-qw", "net.ipv6.conf.all.disable_ipv6=1"])
            let tun = try NetworkNamespace.openTUN(TunnelRouting.interfaceName)
            defer { close(tun) }
            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.apply(Self.config(routes: ["10.1.0.0/16", "fd10::/64", "0.0.0.0/0", "::/0"]))
            let shown = try NetworkNamespace.ipJSON("address", "show", "dev", TunnelRouting.interfaceName)
            return Seen(
                hasIPv6: manager.hasIPv6(),
                addresses: (shown.first?["addr_info"] as? [[String: Any]] ?? []).map {
                    "\($0["local"] ?? "?")/\($0["prefixlen"] ?? "?")"
                },
                routes: [
                    try Self.destinations(table: TunnelRouting.userRoutesTable),
                    try Self.destinations(table: TunnelRouting.internetTable),
                    try Self.destinations(table: TunnelRouting.userRoutesTable, family: "-6"),
                ]
            )
        }
        #expect(!seen.hasIPv6)
        #expect(seen.addresses == ["100.64.0.7/32"])
        #expect(seen.routes == [["10.1.0.0/16"], ["default"], []])
    }

    @Test func aKernelWithoutIPv6SettingsHasNoIPv6() throws {
        let (without, with) = try Self.withTUN {
            let without = try TunDeviceManager(
                ipv6SettingsDirectory: "/proc/sys/net/no-such-family/conf",
                logger: Self.logger
            )
            let with = try TunDeviceManager(logger: Self.logger)
            return (without.hasIPv6(), with.hasIPv6())
        }
        #expect(!without)
        #expect(with)
    }

    @Test func routesGoToTheUserTableAndDefaultRoutesToTheInternetTable() throws {
        let tables = try Self.withTUN {
            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.apply(Self.config(routes: ["10.1.0.0/16", "fd10::/64", "0.0.0.0/0", "::/0"]))
            return [
                try Self.destinations(table: TunnelRouting.userRoutesTable),
                try Self.destinations(table: TunnelRouting.userRoutesTable, family: "-6"),
                try Self.destinations(table: TunnelRouting.internetTable),
                try Self.destinations(table: TunnelRouting.internetTable, family: "-6"),
            ]
        }
        #expect(tables == [["10.1.0.0/16"], ["fd10::/64"], ["default"], ["default"]])
    }

    @Test func applyingANewRouteSetChangesOnlyTheDifference() throws {
        let (user, internet, keptProtocol) = try Self.withTUN {
            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.apply(Self.config(routes: ["10.1.0.0/16", "10.3.0.0/16", "0.0.0.0/0"]))
            // Marks the route the next set keeps: a delete and re-add would give it connlib's protocol again.
            try NetworkNamespace.ip(
                "route",
                "replace",
                "10.1.0.0/16",
                "dev",
                TunnelRouting.interfaceName,
                "table",
                "\(TunnelRouting.userRoutesTable)",
                "proto",
                "kernel"
            )

            try manager.apply(Self.config(routes: ["10.1.0.0/16", "10.2.0.0/16"]))

            let kept = try NetworkNamespace.ipJSON(
                "-4",
                "route",
                "show",
                "table",
                "\(TunnelRouting.userRoutesTable)",
                "10.1.0.0/16"
            )
            return (
                try Self.destinations(table: TunnelRouting.userRoutesTable),
                try Self.destinations(table: TunnelRouting.internetTable),
                kept.first?["protocol"] as? String
            )
        }
        #expect(user == ["10.1.0.0/16", "10.2.0.0/16"])
        #expect(internet == [])
        #expect(keptProtocol == "kernel")
    }

    @Test func rulesSendTrafficWithoutTheMarkToTheThreeTables() throws {
        let rules = try Self.withTUN {
            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.apply(Self.config(routes: ["10.1.0.0/16"]))
            return [try Self.ourRules(family: "-4"), try Self.ourRules(family: "-6")]
        }
        let expected = [
            "100 not fwmark 0xfd002021 table 539098368",
            "200 not fwmark 0xfd002021 table 539098369",
            "300 not fwmark 0xfd002021 table 539098370",
        ]
        #expect(rules == [expected, expected])
    }

    @Test func linkScopeRoutesOfTheMainTableAreMirrored() throws {
        let (before, after) = try Self.withTUN {
            let lan = try NetworkNamespace.openTUN("lan0")
            defer { close(lan) }
            try NetworkNamespace.ip("link", "set", "lan0", "up")
            try NetworkNamespace.ip("address", "add", "192.168.77.10/24", "dev", "lan0")
            try NetworkNamespace.ip("address", "add", "fd77::10/64", "dev", "lan0", "nodad")
            try NetworkNamespace.ip("route", "add", "default", "via", "192.168.77.1")
            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.apply(Self.config(routes: ["0.0.0.0/0"]))
            let before = [
                try Self.destinations(table: TunnelRouting.linkScopeTable),
                try Self.destinations(table: TunnelRouting.linkScopeTable, family: "-6"),
            ]

            try NetworkNamespace.ip("address", "del", "192.168.77.10/24", "dev", "lan0")
            try manager.refreshLinkScopeRoutes()

            return (before, try Self.destinations(table: TunnelRouting.linkScopeTable))
        }
        #expect(before == [["192.168.77.0/24"], ["fd77::/64"]])
        #expect(after == [])
    }

    @Test func removeAllLeavesNoRouteOrRuleBehind() throws {
        let (applied, left) = try Self.withTUN {
            let lan = try NetworkNamespace.openTUN("lan0")
            defer { close(lan) }
            try NetworkNamespace.ip("link", "set", "lan0", "up")
            try NetworkNamespace.ip("address", "add", "192.168.77.10/24", "dev", "lan0")
            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.apply(Self.config(routes: ["10.1.0.0/16", "0.0.0.0/0", "::/0"]))
            let applied = try Self.everythingOfConnlib()

            try manager.removeAll()

            return (applied, try Self.everythingOfConnlib())
        }
        #expect(applied.count == 10)  // 3 routes, 1 mirrored, 6 rules
        #expect(left == [])
    }

    @Test func aNewManagerRemovesWhatAKilledRunLeftAndNothingElse() throws {
        let (left, foreignRoutes, foreignRule) = try Self.withTUN {
            let lan = try NetworkNamespace.openTUN("lan0")
            defer { close(lan) }
            try NetworkNamespace.ip("link", "set", "lan0", "up")
            try NetworkNamespace.ip("address", "add", "192.168.77.10/24", "dev", "lan0")
            try NetworkNamespace.ip("rule", "add", "priority", "100", "table", "1234")
            try NetworkNamespace.ip("route", "add", "10.5.0.0/16", "dev", "lan0", "table", "1234")
            do {
                // A run that dies without removeAll(): its manager is simply forgotten.
                let killed = try TunDeviceManager(logger: Self.logger)
                try killed.apply(Self.config(routes: ["10.1.0.0/16", "fd10::/64", "0.0.0.0/0", "::/0"]))
            }

            _ = try TunDeviceManager(logger: Self.logger)

            let foreignRule = try NetworkNamespace.ipJSON("-4", "rule", "show").contains {
                $0["priority"] as? Int == 100 && $0["table"] as? String == "1234"
            }
            return (try Self.everythingOfConnlib(), try Self.destinations(table: 1234), foreignRule)
        }
        #expect(left == [])
        #expect(foreignRoutes == ["10.5.0.0/16"])
        #expect(foreignRule)
    }

    @Test func aKernelRefusalNamesTheOperationAndItsErrno() throws {
        let error = try Self.withTUN { () -> SystemCallError? in
            let netlink = try RouteNetlink()
            let index = try netlink.interfaceIndex(named: TunnelRouting.interfaceName)
            let route = KernelRoute(destination: IPNetwork("10.1.0.0/16")!, interfaceIndex: index, table: 4242)
            do throws(SystemCallError) {
                try netlink.deleteRoute(route)
                return nil
            } catch {
                return error
            }
        }
        #expect(error?.errno == ESRCH)
        #expect(error?.operation.hasPrefix("delete route 10.1.0.0/16") == true)
    }
}
