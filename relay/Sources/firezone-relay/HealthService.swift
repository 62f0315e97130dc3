import IPPacket
import Logging
import Relay
import ServiceLifecycle

/// `/healthz` and `/metrics` as a service: the server is bound before the group starts (a taken address is a
/// failure to start), serves until graceful shutdown or cancellation, then closes.
struct HealthService: Service {
    let server: HealthServer
    let address: IPSocketAddress
    let logger: Logger

    func run() async throws {
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
