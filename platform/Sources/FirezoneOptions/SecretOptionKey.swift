/// A secret's two spellings: the value itself (`--token` / `FIREZONE_TOKEN`) and a file holding it
/// (`--token-file` / `FIREZONE_TOKEN_FILE`).
public struct SecretOptionKey: Sendable, Hashable {
    public var value: OptionKey
    public var file: OptionKey

    public init(value: OptionKey, file: OptionKey) {
        self.value = value
        self.file = file
    }

    /// The portal token of the relay and the gateway.
    public static let token = SecretOptionKey(
        value: OptionKey("portal token", flag: "--token", variable: "FIREZONE_TOKEN"),
        file: OptionKey("portal token file", flag: "--token-file", variable: "FIREZONE_TOKEN_FILE")
    )

    /// The relay's static credential secret (Firezone's rust/relay/server/src/auth.rs).
    public static let relayAuthSecret = SecretOptionKey(
        value: OptionKey("auth secret", flag: "--auth-secret", variable: "FIREZONE_RELAY_AUTH_SECRET"),
        file: OptionKey("auth secret file", flag: "--auth-secret-file", variable: "FIREZONE_RELAY_AUTH_SECRET_FILE")
    )
}
