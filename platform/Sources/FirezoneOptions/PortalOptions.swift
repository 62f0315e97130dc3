/// What a component needs to reach the portal (Firezone's rust/connlib/phoenix-channel/src/login_url.rs): its token, the API URL, the name it shows and how
/// long it may stay unreachable.
public struct PortalOptions: Sendable {
    /// The keys of the portal options; the relay's and the gateway's are ``standard``, the headless client names its
    /// partition time `MAX_PARTITION_TIME` (Firezone's headless client, rust/headless-client) and builds its own.
    public struct Keys: Sendable, Hashable {
        public var token: SecretOptionKey
        public var apiURL: OptionKey
        public var name: OptionKey
        public var maxPartitionTime: OptionKey

        public init(token: SecretOptionKey, apiURL: OptionKey, name: OptionKey, maxPartitionTime: OptionKey) {
            self.token = token
            self.apiURL = apiURL
            self.name = name
            self.maxPartitionTime = maxPartitionTime
        }

        public static let standard = Keys(
            token: .token,
            apiURL: OptionKey("portal URL", flag: "--api-url", variable: "FIREZONE_API_URL"),
            name: OptionKey("name", flag: "--name", variable: "FIREZONE_NAME"),
            maxPartitionTime: OptionKey(
                "maximum partition time",
                flag: "--max-partition-time",
                variable: "FIREZONE_MAX_PARTITION_TIME"
            )
        )
    }

    /// The flags as the command line gave them (nil: not given).
    public struct Flags: Sendable, Hashable {
        public var token: String?
        public var tokenFile: String?
        public var apiURL: String?
        public var name: String?
        public var maxPartitionTime: String?

        public init(
            token: String? = nil,
            tokenFile: String? = nil,
            apiURL: String? = nil,
            name: String? = nil,
            maxPartitionTime: String? = nil
        ) {
            self.token = token
            self.tokenFile = tokenFile
            self.apiURL = apiURL
            self.name = name
            self.maxPartitionTime = maxPartitionTime
        }
    }

    /// Firezone's portal.
    public static let defaultAPIURL = "wss://api.firezone.dev"

    public var token: Secret
    public var apiURL: String
    public var name: String?
    /// nil: retry forever.
    public var maxPartitionTime: Duration?

    /// The portal options, or nil without a token (the component then runs without a portal, or refuses to).
    public static func resolve(
        _ flags: Flags,
        reader: OptionReader,
        keys: Keys = .standard,
        defaultPartitionTime: Duration?
    ) throws(OptionError) -> PortalOptions? {
        let apiURL = reader.text(keys.apiURL, flag: flags.apiURL) ?? Self.defaultAPIURL
        let name = reader.text(keys.name, flag: flags.name)
        let partitionTime = try reader.duration(keys.maxPartitionTime, flag: flags.maxPartitionTime)
        guard let token = try reader.secret(keys.token, flag: flags.token, fileFlag: flags.tokenFile) else {
            return nil
        }
        return PortalOptions(
            token: token,
            apiURL: apiURL,
            name: name,
            maxPartitionTime: partitionTime ?? defaultPartitionTime
        )
    }
}
