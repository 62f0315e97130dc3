import Logging
import NIOCore
import PhoenixChannel
import PhoenixCore
import PortalMessages
import ServiceLifecycle

/// The portal connection as a service: connects when the group starts it, hands each event to `handle`, and
/// closes the socket on graceful shutdown. When the portal gives up (a rejected token, the partition time passed)
/// it throws ``PortalFailed``, which shuts the group down and ends the process with that reason.
struct PortalService<Topic: PortalTopic>: Service {
    struct PortalFailed: Error, CustomStringConvertible {
        var failure: PhoenixFailure

        var description: String {
            "stopping: \(self.failure)"
        }
    }

    let configuration: PhoenixChannel<Topic>.Configuration
    let group: any EventLoopGroup
    let logger: Logger
    /// What the component does with the portal's messages; the relay needs nothing from them.
    let handle: @Sendable (PhoenixEvent<Topic.Inbound>) async -> Void

    func run() async throws {
        let channel = try PhoenixChannel<Topic>(
            configuration: self.configuration,
            group: self.group,
            logger: self.logger
        )
        defer {
            channel.close()
            self.logger.info("Portal connection closed")
        }
        self.logger.info("Connecting to the portal", metadata: ["portal.url": "\(self.configuration.url)"])
        for await event in channel.events.cancelOnGracefulShutdown() {
            if case .failed(let failure) = event {
                throw PortalFailed(failure: failure)
            }
            await self.handle(event)
        }
    }
}
