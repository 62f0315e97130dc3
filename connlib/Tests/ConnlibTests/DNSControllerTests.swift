import Connlib
import Foundation
import IPPacket
import Logging
import Testing

/// DNS control against files in a scratch directory. `resolvectl` is not installed here: the systemd-resolved
/// tests use a stand-in script that records its arguments and prints a recorded `resolvectl dns` output, which
/// checks the commands we issue and the parsing, not systemd-resolved itself.
struct DNSControllerTests {
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    static let original = "# the system's file\nnameserver 192.168.1.1\nnameserver fe80::1%eth0\nsearch lan\n"
    static let sentinels = [IPAddress("100.100.111.1")!, IPAddress("fd00:2021:1111:8000:100:100:111:0")!]

    /// A scratch directory removed when the test ends.
    final class Scratch {
        let path: String

        init() throws {
            self.path = NSTemporaryDirectory() + "dns-control-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
        }

        deinit {
            try? FileManager.default.removeItem(atPath: self.path)
        }

        var paths: DNSController.Paths {
            DNSController.Paths(
                resolvConf: "\(self.path)/resolv.conf",
                backup: "\(self.path)/resolv.conf.before-firezone",
                resolvectl: "\(self.path)/resolvectl"
            )
        }

        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: "\(self.path)/\(name)", atomically: true, encoding: .utf8)
        }

        func read(_ name: String) throws -> String {
            try String(contentsOfFile: "\(self.path)/\(name)", encoding: .utf8)
        }

        func exists(_ name: String) -> Bool {
            FileManager.default.fileExists(atPath: "\(self.path)/\(name)")
        }
    }

    @Test func etcResolvConfIsReplacedByTheSentinelsAndRestoredOnExit() throws {
        let scratch = try Scratch()
        try scratch.write("resolv.conf", Self.original)
        let controller = try DNSController(method: .etcResolvConf, paths: scratch.paths, logger: Self.logger)

        try controller.apply(sentinels: Self.sentinels, searchDomain: "corp.example")

        let written = try scratch.read("resolv.conf")
        #expect(ResolvConf.nameservers(in: written).isEmpty)  // only sentinels, which the reader skips
        #expect(written.contains("nameserver 100.100.111.1\n"))
        #expect(written.contains("nameserver fd00:2021:1111:8000:100:100:111:0\n"))
        #expect(written.contains("search corp.example\n"))
        #expect(try scratch.read("resolv.conf.before-firezone") == Self.original)

        try controller.restore()

        #expect(try scratch.read("resolv.conf") == Self.original)
        #expect(!scratch.exists("resolv.conf.before-firezone"))
    }

    @Test func applyingTwiceKeepsTheSystemsFileAsTheBackup() throws {
        let scratch = try Scratch()
        try scratch.write("resolv.conf", Self.original)
        let controller = try DNSController(method: .etcResolvConf, paths: scratch.paths, logger: Self.logger)

        try controller.apply(sentinels: Self.sentinels, searchDomain: nil)
        try controller.apply(sentinels: [Self.sentinels[0]], searchDomain: nil)
        try controller.restore()

        #expect(try scratch.read("resolv.conf") == Self.original)
    }

    @Test func aBackupLeftByAKilledRunIsRestoredAtTheNextStart() throws {
        let scratch = try Scratch()
        try scratch.write("resolv.conf", Self.original)
        do {
            // A run that dies with the file replaced: its controller is simply forgotten.
            let killed = try DNSController(method: .etcResolvConf, paths: scratch.paths, logger: Self.logger)
            try killed.apply(sentinels: Self.sentinels, searchDomain: nil)
        }

        let next = try DNSController(method: .etcResolvConf, paths: scratch.paths, logger: Self.logger)

        #expect(try scratch.read("resolv.conf") == Self.original)
        #expect(!scratch.exists("resolv.conf.before-firezone"))
        #expect(try next.systemResolvers() == [IPAddress("192.168.1.1")!, IPAddress("fe80::1")!])
    }

    @Test func systemResolversNeverIncludeTheSentinels() throws {
        let scratch = try Scratch()
        try scratch.write("resolv.conf", "nameserver 100.100.111.1\nnameserver 9.9.9.9\nnameserver 9.9.9.9\n")
        let controller = try DNSController(method: .etcResolvConf, paths: scratch.paths, logger: Self.logger)

        #expect(try controller.systemResolvers() == [IPAddress("9.9.9.9")!])
    }

    @Test func disabledTouchesNothing() throws {
        let scratch = try Scratch()
        try scratch.write("resolv.conf", Self.original)
        let controller = try DNSController(method: .disabled, paths: scratch.paths, logger: Self.logger)

        try controller.apply(sentinels: Self.sentinels, searchDomain: "corp.example")

        #expect(try scratch.read("resolv.conf") == Self.original)
        #expect(!scratch.exists("resolv.conf.before-firezone"))
    }

    @Test func systemdResolvedPointsTheTunDeviceAtTheSentinelsAndRevertsIt() throws {
        let scratch = try Scratch()
        try scratch.write(
            "status",
            "Global: 1.1.1.1#cloudflare-dns.com\nLink 2 (eth0): 192.168.1.1 fe80::1%2\nLink 3 (tun-firezone): 100.100.111.1\n"
        )
        try scratch.write(
            "resolvectl",
            "#!/bin/sh\necho \"$*\" >> \(scratch.path)/calls\n[ \"$*\" = dns ] && cat \(scratch.path)/status\nexit 0\n"
        )
        chmod("\(scratch.path)/resolvectl", 0o755)
        let controller = try DNSController(method: .systemdResolved, paths: scratch.paths, logger: Self.logger)

        let system = try controller.systemResolvers()
        try controller.apply(sentinels: Self.sentinels, searchDomain: "corp.example")
        try controller.restore()

        #expect(system == [IPAddress("1.1.1.1")!, IPAddress("192.168.1.1")!, IPAddress("fe80::1")!])
        #expect(
            try scratch.read("calls").split(separator: "\n") == [
                "dns",
                "dns tun-firezone 100.100.111.1 fd00:2021:1111:8000:100:100:111:0",
                "domain tun-firezone corp.example",
                "llmnr tun-firezone true",
                "flush-caches",
                "flush-caches",
            ]
        )
    }

    @Test func systemdResolvedRoutesEveryDomainWithoutASearchDomain() throws {
        let scratch = try Scratch()
        try scratch.write("resolvectl", "#!/bin/sh\necho \"$*\" >> \(scratch.path)/calls\nexit 0\n")
        chmod("\(scratch.path)/resolvectl", 0o755)
        let controller = try DNSController(method: .systemdResolved, paths: scratch.paths, logger: Self.logger)

        try controller.apply(sentinels: [Self.sentinels[0]], searchDomain: nil)

        #expect(try scratch.read("calls").split(separator: "\n").contains("domain tun-firezone ~."))
    }

    @Test func systemdResolvedIsGivenAnUnchangedConfigurationOnce() throws {
        let scratch = try Scratch()
        try scratch.write("resolvectl", "#!/bin/sh\necho \"$*\" >> \(scratch.path)/calls\nexit 0\n")
        chmod("\(scratch.path)/resolvectl", 0o755)
        let controller = try DNSController(method: .systemdResolved, paths: scratch.paths, logger: Self.logger)

        try controller.apply(sentinels: Self.sentinels, searchDomain: "corp.example")
        try controller.apply(sentinels: Self.sentinels, searchDomain: "corp.example")
        let afterSame = try scratch.read("calls").split(separator: "\n").count
        try controller.apply(sentinels: Self.sentinels, searchDomain: "other.example")
        let afterChange = try scratch.read("calls").split(separator: "\n")

        #expect(afterSame == 4)
        #expect(afterChange.count == 8)
        #expect(afterChange.contains("domain tun-firezone other.example"))
    }

    @Test func systemResolversAfterTheFileWasReplacedComeFromTheBackup() throws {
        let scratch = try Scratch()
        try scratch.write("resolv.conf", Self.original)
        let controller = try DNSController(method: .etcResolvConf, paths: scratch.paths, logger: Self.logger)
        try controller.apply(sentinels: Self.sentinels, searchDomain: nil)

        let whileReplaced = try controller.systemResolvers()
        // A DHCP client after roaming writes the file anew: its servers are the system's now.
        try scratch.write("resolv.conf", "nameserver 10.20.30.40\n")
        let afterRoaming = try controller.systemResolvers()

        #expect(whileReplaced == [IPAddress("192.168.1.1")!, IPAddress("fe80::1")!])
        #expect(afterRoaming == [IPAddress("10.20.30.40")!])
    }

    @Test func aFailingResolvectlIsAnErrorWithItsOutput() throws {
        let scratch = try Scratch()
        try scratch.write(
            "resolvectl",
            "#!/bin/sh\necho 'Failed to set DNS configuration: Link tun-firezone not known'\nexit 1\n"
        )
        chmod("\(scratch.path)/resolvectl", 0o755)
        let controller = try DNSController(method: .systemdResolved, paths: scratch.paths, logger: Self.logger)

        let error = try #require(throws: ChildProcessError.self) {
            try controller.apply(sentinels: Self.sentinels, searchDomain: nil)
        }
        #expect(error.status == 1)
        #expect(error.output.contains("Link tun-firezone not known"))
    }
}
