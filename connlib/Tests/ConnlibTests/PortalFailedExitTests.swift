import FirezoneCommand
import PhoenixCore
import PortalMessages
import Testing

@testable import Connlib

@Suite struct PortalFailedExitTests {
    enum Status: Int32, Sendable {
        case portalUnreachable = 5
        case portalRejected = 6
    }

    private func exit(_ kind: PhoenixFailure.Kind) -> ExitFailure<Status> {
        PortalBridge<GatewayTopic>.PortalFailed(failure: PhoenixFailure(kind)).exitFailure(
            unreachable: Status.portalUnreachable,
            rejected: .portalRejected,
            rejectedHint: "create a new token"
        )
    }

    @Test func anUnreachablePortalOrFailedTLSExitsAsUnreachableNamingTheURL() {
        for kind in [PhoenixFailure.Kind.partitionTimeout(.seconds(900)), .tls("certificate expired")] {
            let failure = self.exit(kind)
            #expect(failure.kind == .portalUnreachable, "\(kind)")
            #expect(
                failure.description.hasSuffix(
                    "; check FIREZONE_API_URL and that the portal is reachable from this host"
                )
            )
        }
    }

    @Test func aRejectedTokenOrJoinExitsAsRejectedWithTheExecutablesHint() {
        let kinds: [PhoenixFailure.Kind] = [
            .rejected(status: 401, body: ""), .joinRejected(reason: "invalid_version"), .tokenExpired,
        ]
        for kind in kinds {
            let failure = self.exit(kind)
            #expect(failure.kind == .portalRejected, "\(kind)")
            #expect(failure.description == "\(PhoenixFailure(kind)); create a new token")
        }
    }
}
