import ArgumentParser
import FirezoneOptions

/// The flags of the portal connection that the relay and the gateway share, with the spelling of Firezone's relay
/// and gateway CLIs (rust/relay/server/src/main.rs, rust/gateway/src/main.rs); each is also read from its variable
/// (``PortalOptions/Keys/standard``). The headless client names its own (`--token-path`, `--firezone-name`).
public struct PortalFlags: ParsableArguments {
    @Option(
        name: .customLong("token"),
        help: "Portal token (env FIREZONE_TOKEN). Visible to local users: prefer --token-file."
    )
    public var token: String?
    @Option(name: .customLong("token-file"), help: "File holding the portal token (env FIREZONE_TOKEN_FILE).")
    public var tokenFile: String?
    @Option(name: .customLong("api-url"), help: "Portal URL (env FIREZONE_API_URL, default wss://api.firezone.dev).")
    public var apiURL: String?
    @Option(name: .customLong("name"), help: "Name shown in the portal (env FIREZONE_NAME).")
    public var name: String?
    @Option(
        name: .customLong("max-partition-time"),
        help: ArgumentHelp(
            "How long the portal may be unreachable before the process exits, e.g. 900s, 15m, 1h (env "
                + "FIREZONE_MAX_PARTITION_TIME, default 15m)."
        )
    )
    public var maxPartitionTime: String?

    public init() {}

    /// The flags as ``PortalOptions/resolve(_:reader:defaultPartitionTime:)`` reads them.
    public var flags: PortalOptions.Flags {
        PortalOptions.Flags(
            token: self.token,
            tokenFile: self.tokenFile,
            apiURL: self.apiURL,
            name: self.name,
            maxPartitionTime: self.maxPartitionTime
        )
    }
}
