import Connlib
import FirezoneOptions
import Glibc
import Logging

/// The headless client's options (Firezone's rust/headless-client/src/main.rs), each from its flag or the
/// environment variable Firezone reads for it; a flag wins over its variable.
///
/// The token has no flag, so that it never shows in `/proc/*/cmdline`: it comes from `FIREZONE_TOKEN`, or from
/// the token file (`--token-path` / `FIREZONE_TOKEN_PATH`, default ``defaultTokenPath``), which is refused when
/// its group or other users may read or write it, as Firezone's client refuses it.
public struct HeadlessClientOptions: Sendable {
    /// The flags as the command line gave them (nil: not given).
    public struct Flags: Sendable, Hashable {
        public var tokenPath: String?
        public var id: String?
        public var idPath: String?
        public var apiURL: String?
        public var name: String?
        public var dnsControl: String?
        public var activateInternetResource: String?
        public var logDirectory: String?
        public var maxPartitionTime: String?
        public var statusPath: String?

        public init() {}
    }

    public static let tokenKey = OptionKey("portal token", flag: "(no flag)", variable: "FIREZONE_TOKEN")
    public static let tokenPathKey = OptionKey("token file", flag: "--token-path", variable: "FIREZONE_TOKEN_PATH")
    public static let idKey = OptionKey("client ID", flag: "--firezone-id", variable: "FIREZONE_ID")
    public static let idPathKey = OptionKey("client ID file", flag: "--id-path", variable: "FIREZONE_ID_PATH")
    public static let dnsControlKey = OptionKey("DNS control", flag: "--dns-control", variable: "FIREZONE_DNS_CONTROL")
    public static let internetResourceKey = OptionKey(
        "Internet resource activation",
        flag: "--activate-internet-resource",
        variable: "FIREZONE_ACTIVATE_INTERNET_RESOURCE"
    )
    public static let logDirectoryKey = OptionKey("log directory", flag: "--log-dir", variable: "LOG_DIR")
    public static let statusPathKey = OptionKey("status file", flag: "--status-path", variable: "FIREZONE_STATUS_PATH")
    public static let portalKeys = PortalOptions.Keys(
        token: SecretOptionKey(value: HeadlessClientOptions.tokenKey, file: HeadlessClientOptions.tokenPathKey),
        apiURL: OptionKey("portal URL", flag: "--api-url", variable: "FIREZONE_API_URL"),
        name: OptionKey("name", flag: "--firezone-name", variable: "FIREZONE_NAME"),
        // Firezone's headless client names it without the FIREZONE_ prefix.
        maxPartitionTime: OptionKey(
            "maximum partition time",
            flag: "--max-partition-time",
            variable: "MAX_PARTITION_TIME"
        )
    )

    public static let defaultTokenPath = "/etc/dev.firezone.client/token"
    public static let defaultIDPath = "/var/lib/dev.firezone.client/config/firezone-id"
    public static let defaultStatusPath = "/run/firezone/status.json"
    /// The tracing targets whose `RUST_LOG` directives apply (Firezone's crates of the headless client and tunnel).
    public static let logTargets = ["firezone_headless_client", "firezone_tunnel"]

    public var token: Secret
    public var apiURL: String
    public var name: String?
    /// nil: retry forever (Firezone's headless client without `MAX_PARTITION_TIME`).
    public var maxPartitionTime: Duration?
    /// The given ID; nil: `PersistentDeviceID` generates and keeps one at ``idPath``.
    public var id: String?
    public var idPath: String
    public var dnsControl: DNSControlMethod
    /// Firezone 685acdac3a's client never disables a resource: the Internet resource is active unless this says
    /// `false`.
    public var activateInternetResource: Bool
    public var logDirectory: String?
    public var logLevel: Logger.Level
    public var statusPath: String

    public init(_ flags: Flags, reader: OptionReader) throws(OptionError) {
        self.token = try Self.token(flags, reader: reader)
        let keys = Self.portalKeys
        self.apiURL = reader.text(keys.apiURL, flag: flags.apiURL) ?? PortalOptions.defaultAPIURL
        self.name = reader.text(keys.name, flag: flags.name)
        self.maxPartitionTime = try reader.duration(keys.maxPartitionTime, flag: flags.maxPartitionTime)
        self.id = reader.text(Self.idKey, flag: flags.id)
        self.idPath = reader.text(Self.idPathKey, flag: flags.idPath) ?? Self.defaultIDPath
        self.dnsControl =
            try reader.value(
                Self.dnsControlKey,
                flag: flags.dnsControl,
                expected: DNSControlMethod.allCases.map(\.rawValue).joined(separator: ", ")
            ) { DNSControlMethod(rawValue: String($0)) } ?? .systemdResolved
        self.activateInternetResource =
            try reader.value(Self.internetResourceKey, flag: flags.activateInternetResource, expected: "true or false")
        {
            switch $0.lowercased() {
            case "true", "1", "yes": true
            case "false", "0", "no": false
            default: nil
            }
        } ?? true
        self.logDirectory = reader.text(Self.logDirectoryKey, flag: flags.logDirectory)
        self.logLevel = try reader.logLevel(for: Self.logTargets)
        self.statusPath = reader.text(Self.statusPathKey, flag: flags.statusPath) ?? Self.defaultStatusPath
    }

    /// `FIREZONE_TOKEN`, else the token file, which only its owner may read or write.
    private static func token(_ flags: Flags, reader: OptionReader) throws(OptionError) -> Secret {
        let givenPath = reader.text(Self.tokenPathKey, flag: flags.tokenPath)
        if reader.variable(Self.tokenKey.variable) != nil {
            guard givenPath == nil else {
                throw OptionError(
                    "give the token either in \(Self.tokenKey.variable) or in a file (\(Self.tokenPathKey)), not both"
                )
            }
            guard let secret = try reader.secret(Self.portalKeys.token, flag: nil, fileFlag: nil) else {
                preconditionFailure("the variable was just read")
            }
            return secret
        }
        let path = givenPath ?? Self.defaultTokenPath
        var status = stat()
        guard stat(path, &status) == 0 else {
            let reason = String(cString: strerror(errno))
            throw OptionError(
                "no portal token: set \(Self.tokenKey.variable), or put the token in '\(path)' (\(Self.tokenPathKey)) "
                    + "readable only by its owner (\(reason))"
            )
        }
        try OwnerOnlyFile.check(path, key: Self.tokenPathKey)
        guard let secret = try reader.secret(Self.portalKeys.token, flag: nil, fileFlag: path) else {
            preconditionFailure("a file flag always yields a secret or an error")
        }
        return secret
    }
}
