import Connlib
import Foundation
import ConnlibCore
import FirezoneTesting
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

    /// The destinations of the routes in `table` of one family, as `ip -j route show table` lists them.
    static func destinations(table: UInt32, family: String = "-4") throws -> [String] {
        try NetworkNamespace.ipJSON(family, "route", "show", "table", "\(table)").compactMap { $0["dst"] as? String }
            .sorted()
    }

    static func rules(family: String) throws -> [[String: Any]] {
        try NetworkNamespace.ipJSON(family, "rule", "show")
    }

    @Test func addressesAreReplacedByTheTunnelAddressesOnAConfiguredLink() throws {
        try NetworkNamespace.run {
            let tun = try NetworkNamespace.openTUN(TunnelRouting.interfaceName)
            defer { close(tun) }
            try NetworkNamespace.ip("address", "add", "10.9.9.9/24", "dev", TunnelRouting.interfaceName)
            try NetworkNamespace.ip("address", "add", "fd09::9/64", "dev", TunnelRouting.interfaceName, "nodad")

            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.setAddresses(ipv4: Self.ipv4, ipv6: Self.ipv6)

            let link = try #require(
                try NetworkNamespace.ipJSON("-d", "address", "show", "dev", TunnelRouting.interfaceName).first
            )
            #expect(link["mtu"] as? Int == 1280)
            #expect(link["txqlen"] as? Int == 10_000)
            #expect((link["flags"] as? [String])?.contains("UP") == true)
            // IN6_ADDR_GEN_MODE_NONE; /proc/sys resolves against this thread's namespace.
            let mode = try String(
                contentsOfFile: "/proc/sys/net/ipv6/conf/\(TunnelRouting.interfaceName)/addr_gen_mode",
                encoding: .utf8
            )
            #expect(mode.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            let addresses = (link["addr_info"] as? [[String: Any]] ?? []).map {
                "\($0["local"] ?? "?")/\($0["prefixlen"] ?? "?")"
            }
            #expect(addresses.sorted() == ["100.64.0.7/32", "fd00:2021:1111::7/128"])
        }
    }

    @Test func routesGoToTheUserTableAndDefaultRoutesToTheInternetTable() throws {
        try NetworkNamespace.run {
            let tun = try NetworkNamespace.openTUN(TunnelRouting.interfaceName)
            defer { close(tun) }
            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.apply(Self.config(routes: ["10.1.0.0/16", "fd10::/64", "0.0.0.0/0", "::/0"]))

            #expect(try Self.destinations(table: TunnelRouting.userRoutesTable) == ["10.1.0.0/16"])
            #expect(try Self.destinations(table: TunnelRouting.userRoutesTable, family: "-6") == ["fd10::/64"])
            #expect(try Self.destinations(table: TunnelRouting.internetTable) == ["default"])
            #expect(try Self.destinations(table: TunnelRouting.internetTable, family: "-6") == ["default"])
        }
    }

    @Test func applyingANewRouteSetChangesOnlyTheDifference() throws {
        try NetworkNamespace.run {
            let tun = try NetworkNamespace.openTUN(TunnelRouting.interfaceName)
            defer { close(tun) }
            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.apply(Self.config(routes: ["10.1.0.0/16", "10.3.0.0/16", "0.0.0.0/0"]))
            // A route the manager keeps must not be deleted and re-added: give the kept one a mark the kernel
            // would lose on a re-add (a replaced metric-less route keeps the protocol we set here).
            try NetworkNamespace.ip(
                "route", "replace", "10.1.0.0/16", "dev", TunnelRouting.interfaceName, "table",
                "\(TunnelRouting.userRoutesTable)", "proto", "kernel"
            )

            try manager.apply(Self.config(routes: ["10.1.0.0/16", "10.2.0.0/16"]))

            #expect(try Self.destinations(table: TunnelRouting.userRoutesTable) == ["10.1.0.0/16", "10.2.0.0/16"])
            #expect(try Self.destinations(table: TunnelRouting.internetTable) == [])
            let kept = try NetworkNamespace.ipJSON(
                "-4", "route", "show", "table", "\(TunnelRouting.userRoutesTable)", "10.1.0.0/16"
            )
            #expect(kept.first?["protocol"] as? String == "kernel")
        }
    }

    @Test func rulesSendTrafficWithoutTheMarkToTheThreeTables() throws {
        try NetworkNamespace.run {
            let tun = try NetworkNamespace.openTUN(TunnelRouting.interfaceName)
            defer { close(tun) }
            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.apply(Self.config(routes: ["10.1.0.0/16"]))

            for family in ["-4", "-6"] {
                let ours = try Self.rules(family: family).filter { [100, 200, 300].contains($0["priority"] as? Int) }
                #expect(ours.map { $0["priority"] as? Int } == [100, 200, 300])
                #expect(ours.map { $0["table"] as? String } == Self.ourTables)
                for rule in ours {
                    #expect(rule["not"] != nil)
                    #expect(rule["fwmark"] as? String == "0xfd002021")
                }
            }
        }
    }

    @Test func linkScopeRoutesOfTheMainTableAreMirrored() throws {
        try NetworkNamespace.run {
            let tun = try NetworkNamespace.openTUN(TunnelRouting.interfaceName)
            defer { close(tun) }
            let lan = try NetworkNamespace.openTUN("lan0")
            defer { close(lan) }
            try NetworkNamespace.ip("link", "set", "lan0", "up")
            try NetworkNamespace.ip("address", "add", "192.168.77.10/24", "dev", "lan0")
            try NetworkNamespace.ip("address", "add", "fd77::10/64", "dev", "lan0", "nodad")
            try NetworkNamespace.ip("route", "add", "default", "via", "192.168.77.1")
            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.apply(Self.config(routes: ["0.0.0.0/0"]))

            #expect(try Self.destinations(table: TunnelRouting.linkScopeTable) == ["192.168.77.0/24"])
            #expect(try Self.destinations(table: TunnelRouting.linkScopeTable, family: "-6") == ["fd77::/64"])

            try NetworkNamespace.ip("address", "del", "192.168.77.10/24", "dev", "lan0")
            try manager.refreshLinkScopeRoutes()
            #expect(try Self.destinations(table: TunnelRouting.linkScopeTable) == [])
        }
    }

    @Test func removeAllLeavesNoRouteOrRuleBehind() throws {
        try NetworkNamespace.run {
            let tun = try NetworkNamespace.openTUN(TunnelRouting.interfaceName)
            defer { close(tun) }
            let lan = try NetworkNamespace.openTUN("lan0")
            defer { close(lan) }
            try NetworkNamespace.ip("link", "set", "lan0", "up")
            try NetworkNamespace.ip("address", "add", "192.168.77.10/24", "dev", "lan0")
            let manager = try TunDeviceManager(logger: Self.logger)
            try manager.apply(Self.config(routes: ["10.1.0.0/16", "0.0.0.0/0", "::/0"]))

            try manager.removeAll()

            try Self.expectNothingOfConnlibLeft()
        }
    }

    @Test func aNewManagerRemovesWhatAKilledRunLeftAndNothingElse() throws {
        try NetworkNamespace.run {
            let tun = try NetworkNamespace.openTUN(TunnelRouting.interfaceName)
            defer { close(tun) }
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

            try Self.expectNothingOfConnlibLeft()
            #expect(try Self.destinations(table: 1234) == ["10.5.0.0/16"])
            #expect(try Self.rules(family: "-4").contains { $0["priority"] as? Int == 100 && $0["table"] as? String == "1234" })
        }
    }

    @Test func aKernelRefusalNamesTheOperationAndItsErrno() throws {
        try NetworkNamespace.run {
            let tun = try NetworkNamespace.openTUN(TunnelRouting.interfaceName)
            defer { close(tun) }
            let netlink = try RouteNetlink()
            let index = try netlink.interfaceIndex(named: TunnelRouting.interfaceName)
            let route = KernelRoute(destination: IPNetwork("10.1.0.0/16")!, interfaceIndex: index, table: 4242)

            let error = try #require(throws: SystemCallError.self) { try netlink.deleteRoute(route) }

            #expect(error.errno == ESRCH)
            #expect(error.operation.hasPrefix("delete route 10.1.0.0/16"))
        }
    }

    static func expectNothingOfConnlibLeft() throws {
        for family in ["-4", "-6"] {
            for (_, table) in TunnelRouting.rules {
                #expect(try Self.destinations(table: table, family: family) == [])
            }
            let leftover = try Self.rules(family: family).filter {
                Self.ourTables.contains(($0["table"] as? String) ?? "")
            }
            #expect(leftover.isEmpty)
        }
    }
}
