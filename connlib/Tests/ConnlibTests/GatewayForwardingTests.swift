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
        #expect(ruleset.contains("oifname \"tun-firezone\" accept"))
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
