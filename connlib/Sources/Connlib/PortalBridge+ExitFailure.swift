import FirezoneCommand
import PhoenixCore

extension PortalBridge.PortalFailed {
    /// How a gateway or client ends when its portal gave up: with `unreachable` when the partition time passed or
    /// TLS failed, saying where to look; with `rejected` when the portal refused the token or the join, followed by
    /// `rejectedHint` (how this executable gets a new token).
    public func exitFailure<Kind>(unreachable: Kind, rejected: Kind, rejectedHint: String) -> ExitFailure<Kind> {
        switch self.failure.kind {
        case .partitionTimeout, .tls:
            ExitFailure(
                unreachable,
                "\(self.failure); check FIREZONE_API_URL and that the portal is reachable from this host"
            )
        case .rejected, .joinRejected, .tokenExpired:
            ExitFailure(rejected, "\(self.failure); \(rejectedHint)")
        }
    }
}
