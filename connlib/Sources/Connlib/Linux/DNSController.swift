import FoundationEssentials
import IPPacket
import Logging

/// Points the system's resolver at connlib's DNS sentinels while the client runs, and back afterwards
/// (rust/bin-shared/src/dns_control/linux.rs).
///
/// - `systemd-resolved`: `resolvectl dns`, `domain` and `llmnr` on the TUN device, so that systemd-resolved sends
///   queries to the sentinels; caches flushed so that old answers do not outlive the change.
/// - `etc-resolv-conf`: the file is copied to the backup path first, then replaced; on exit the backup is put
///   back and removed. A backup found at start means a run was killed with the file replaced: it is restored
///   before anything else, so the system's resolvers are read from the real file.
/// - `disabled`: nothing is touched.
///
/// The paths are parameters so that tests use a scratch directory.
public final class DNSController {
    public struct Paths: Sendable {
        public var resolvConf: String
        public var backup: String
        /// The `resolvectl` program, a path or a name looked up in PATH.
        public var resolvectl: String

        public init(
            resolvConf: String = "/etc/resolv.conf",
            backup: String = "/etc/resolv.conf.before-firezone",
            resolvectl: String = "resolvectl"
        ) {
            self.resolvConf = resolvConf
            self.backup = backup
            self.resolvectl = resolvectl
        }
    }

    public let method: DNSControlMethod
    public let interfaceName: String
    public let paths: Paths
    private let logger: Logger
    private var applied = false
    /// What systemd-resolved was last given for the TUN device, so that an unchanged configuration spawns nothing.
    private var appliedSettings: (sentinels: [IPAddress], searchDomain: String?)?

    /// Restores a resolv.conf that a killed run left replaced, whatever the method now.
    public init(
        method: DNSControlMethod,
        interfaceName: String = TunnelRouting.interfaceName,
        paths: Paths = Paths(),
        logger: Logger
    ) throws {
        self.method = method
        self.interfaceName = interfaceName
        self.paths = paths
        self.logger = logger
        if FileManager.default.fileExists(atPath: paths.backup) {
            logger.info("Restoring the resolv.conf a previous run left replaced", metadata: ["path": "\(paths.backup)"])
            try self.restoreResolvConf()
        }
    }

    /// The resolvers the system uses without connlib, never its sentinels: read at start, and again after a network
    /// change. systemd-resolved lists every link's servers (ours excluded). With resolv.conf replaced by ours, the
    /// backup holds the system's servers, unless the system wrote the file anew since (a DHCP client after
    /// roaming): then the file's servers are the current ones.
    public func systemResolvers() throws -> [IPAddress] {
        switch self.method {
        case .systemdResolved:
            let output = try ChildProcess.runChecked(self.paths.resolvectl, ["dns"])
            return Self.resolvedServers(in: output, excluding: self.interfaceName)
        case .etcResolvConf, .disabled:
            guard let text = try? String(contentsOfFile: self.paths.resolvConf, encoding: .utf8) else { return [] }
            let servers = ResolvConf.nameservers(in: text)
            guard servers.isEmpty, self.method == .etcResolvConf,
                let backup = try? String(contentsOfFile: self.paths.backup, encoding: .utf8)
            else { return servers }
            return ResolvConf.nameservers(in: backup)
        }
    }

    /// Points the system at `sentinels`, with `searchDomain` when the portal gave one.
    public func apply(sentinels: [IPAddress], searchDomain: String?) throws {
        switch self.method {
        case .disabled:
            return
        case .systemdResolved:
            // Four programs and a cache flush on the data-plane thread: only when the settings changed.
            if let settings = self.appliedSettings, settings.sentinels == sentinels,
                settings.searchDomain == searchDomain
            {
                return
            }
            self.appliedSettings = nil
            let name = self.interfaceName
            try ChildProcess.runChecked(self.paths.resolvectl, ["dns", name] + sentinels.map(\.description))
            // The search domain when the portal gives one, else `~.`, which makes the link the route for every
            // domain (Firezone does the same).
            try ChildProcess.runChecked(self.paths.resolvectl, ["domain", name, searchDomain ?? "~."])
            try ChildProcess.runChecked(self.paths.resolvectl, ["llmnr", name, "true"])
            try ChildProcess.runChecked(self.paths.resolvectl, ["flush-caches"])
            self.appliedSettings = (sentinels, searchDomain)
        case .etcResolvConf:
            // Written each time: cheap, and it puts back a file that a DHCP client replaced.
            if !FileManager.default.fileExists(atPath: self.paths.backup) {
                let original = try Data(contentsOf: URL(fileURLWithPath: self.paths.resolvConf))
                try original.write(to: URL(fileURLWithPath: self.paths.backup), options: .atomic)
            }
            let text = ResolvConf.render(
                nameservers: sentinels,
                searchDomain: searchDomain,
                backupPath: self.paths.backup
            )
            try Data(text.utf8).write(to: URL(fileURLWithPath: self.paths.resolvConf), options: .atomic)
        }
        self.applied = true
        self.logger.debug("DNS control applied", metadata: ["dns.method": "\(self.method.rawValue)"])
    }

    /// Gives the system its resolvers back.
    public func restore() throws {
        switch self.method {
        case .disabled:
            return
        case .systemdResolved:
            // systemd-resolved forgets a link's settings when the link goes away with the TUN device; what it
            // cached from the sentinels must go now.
            guard self.applied else { return }
            self.appliedSettings = nil
            try ChildProcess.runChecked(self.paths.resolvectl, ["flush-caches"])
        case .etcResolvConf:
            try self.restoreResolvConf()
        }
        self.applied = false
    }

    /// Puts the backup back in place and removes it; the backup goes last, so a crash in between restores again.
    private func restoreResolvConf() throws {
        guard FileManager.default.fileExists(atPath: self.paths.backup) else { return }
        let original = try Data(contentsOf: URL(fileURLWithPath: self.paths.backup))
        try original.write(to: URL(fileURLWithPath: self.paths.resolvConf), options: .atomic)
        try FileManager.default.removeItem(atPath: self.paths.backup)
    }

    /// The servers of `resolvectl dns`'s output (`Global: 1.1.1.1`, `Link 2 (eth0): 192.168.1.1 fe80::1%2`),
    /// skipping the TUN device's own line and connlib's sentinels.
    static func resolvedServers(in output: String, excluding interfaceName: String) -> [IPAddress] {
        var found: [IPAddress] = []
        for line in output.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":"), !line[..<colon].contains("(\(interfaceName))") else { continue }
            for token in line[line.index(after: colon)...].split(separator: " ") {
                // A server may carry a port, a zone or a name: 1.1.1.1#cloudflare-dns.com, fe80::1%2.
                let bare = token.split(whereSeparator: { $0 == "%" || $0 == "#" }).first ?? token
                if let address = IPAddress(bare), !ResolvConf.isSentinel(address), !found.contains(address) {
                    found.append(address)
                }
            }
        }
        return found
    }
}
