import IPPacket
import Logging
import ServiceLifecycle

/// `/healthz`, `/readyz` and `/metrics` as a service: the server is bound before the group starts (a taken address
/// is a failure to start), serves until graceful shutdown or cancellation, then closes.
public struct HealthService: Service {
    public let server: HealthServer
    public let address: IPSocketAddress
    public let logger: Logger

    public init(server: HealthServer, address: IPSocketAddress, logger: Logger) {
        self.server = server
        self.address = address
        self.logger = logger
    }

    public func run() async throws {
        self.logger.info("Serving health checks and metrics", metadata: ["health.address": "\(self.address)"])
        do {
            try await gracefulShutdown()
        } catch is CancellationError {
            // Cancelled rather than shut down: close all the same.
        }
        try await self.server.close()
        self.logger.info("Health checks stopped")
    }
}
