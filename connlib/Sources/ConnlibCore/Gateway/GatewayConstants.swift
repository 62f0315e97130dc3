import FirezoneTime

public enum GatewayConstants {
    // MARK: Implementation

    /// How often expired authorizations are looked for: Firezone 685acdac3a's gateway checks every second
    /// (rust/connlib/tunnel/src/gateway.rs, `handle_timeout`).
    public static let authorizationCheckInterval: Duration = .seconds(1)
}
