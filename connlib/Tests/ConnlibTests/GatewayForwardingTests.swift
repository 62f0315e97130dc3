import Connlib
import FirezoneTesting
import Foundation
import Logging
import Testing

@Suite(.enabled(if: PrivilegedTests.enabled, "needs root: network namespaces and nftables"))
struct GatewayForwardingTests {
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    static func tables() throws -> [String] {
        try NetworkNamespace.command("nft", ["list", "tables"]).split(separator: "\n").map(String.init)
    }

    static func sysctl(_ path: String) throws -> String {
        try String(contentsOfFile: "/proc/sys/net/\(path)", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func enableTurnsOnForwardingAndInstallsTheTableAndDisableRemovesOnlyIt() throws {
        let (sysctls, ruleset, tablesAfter) = try NetworkNamespace.run {
            try NetworkNamespace.command("nft", ["add", "table", "inet", "someone-else"])
            let forwarding = GatewayForwarding(logger: Self.logger)

            try forwarding.enable()
            let sysctls = [try Self.sysctl("ipv4/ip_forward"), try Self.sysctl("ipv6/conf/all/forwarding")]
            let ruleset = try NetworkNamespace.command("nft", ["list", "table", "inet", "firezone-gateway"])

            try forwarding.disable()

            return (sysctls, ruleset, try Self.tables())
        }
        #expect(sysctls == ["1", "1"])
        #expect(ruleset.contains("iifname \"tun-firezone\" accept"))
        #expect(ruleset.contains("oifname \"tun-firezone\" ct state established,related accept"))
        #expect(ruleset.contains("ip saddr 100.64.0.0/11 oifname != \"tun-firezone\" masquerade"))
        #expect(ruleset.contains("ip6 saddr fd00:2021:1111::/107 oifname != \"tun-firezone\" masquerade"))
        #expect(tablesAfter == ["table inet someone-else"])
    }

    @Test func enableReplacesATableAKilledRunLeft() throws {
        let (ruleset, tablesAfter) = try NetworkNamespace.run {
            try NetworkNamespace.command(
                "nft",
                ["-f", "-"],
                input: "table inet firezone-gateway {\n chain stale {\n type filter hook forward priority 0;\n }\n}\n"
            )
            let forwarding = GatewayForwarding(logger: Self.logger)

            try forwarding.enable()
            let ruleset = try NetworkNamespace.command("nft", ["list", "table", "inet", "firezone-gateway"])
            try forwarding.disable()
            try forwarding.disable()

            return (ruleset, try Self.tables())
        }
        #expect(!ruleset.contains("stale"))
        #expect(ruleset.contains("masquerade"))
        #expect(tablesAfter == [])
    }
}

/// The sysctls against files in a scratch directory, with `true` standing in for nft.
struct GatewayForwardingSettingsTests {
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// A scratch directory shaped like /proc/sys/net, removed when the test ends.
    final class Scratch {
        let path = NSTemporaryDirectory() + "gateway-forwarding-" + UUID().uuidString

        init(ipv4: String, ipv6: String?) throws {
            try FileManager.default.createDirectory(atPath: "\(self.path)/ipv4", withIntermediateDirectories: true)
            try ipv4.write(toFile: "\(self.path)/ipv4/ip_forward", atomically: false, encoding: .utf8)
            if let ipv6 {
                try FileManager.default.createDirectory(
                    atPath: "\(self.path)/ipv6/conf/all",
                    withIntermediateDirectories: true
                )
                try ipv6.write(toFile: "\(self.path)/ipv6/conf/all/forwarding", atomically: false, encoding: .utf8)
            }
        }

        deinit {
            try? FileManager.default.removeItem(atPath: self.path)
        }

        func modified(_ name: String) throws -> Date? {
            try FileManager.default.attributesOfItem(atPath: "\(self.path)/\(name)")[.modificationDate] as? Date
        }

        func read(_ name: String) throws -> String {
            try String(contentsOfFile: "\(self.path)/\(name)", encoding: .utf8)
        }
    }

    @Test func aSettingThatIsOnAlreadyIsNotWritten() throws {
        let scratch = try Scratch(ipv4: "1\n", ipv6: "1\n")
        let old = Date(timeIntervalSince1970: 1_000_000)
        for name in ["ipv4/ip_forward", "ipv6/conf/all/forwarding"] {
            try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: "\(scratch.path)/\(name)")
        }
        let forwarding = GatewayForwarding(procSysNet: scratch.path, nft: "true", logger: Self.logger)

        try forwarding.enable()

        #expect(try scratch.modified("ipv4/ip_forward") == old)
        #expect(try scratch.modified("ipv6/conf/all/forwarding") == old)
    }

    @Test func aSettingThatIsOffIsTurnedOnAndIPv6IsBestEffort() throws {
        let scratch = try Scratch(ipv4: "0\n", ipv6: nil)
        let forwarding = GatewayForwarding(procSysNet: scratch.path, nft: "true", logger: Self.logger)

        try forwarding.enable()

        #expect(try scratch.read("ipv4/ip_forward") == "1\n")
    }
}
