import Logging
import ServiceLifecycle

extension ServiceGroup {
    /// A tunnel executable's services, started in the order given and shut down in the reverse one: the data plane
    /// comes first, so that the portal learns first that the host is leaving and the data plane says goodbye to
    /// every peer last. Any service that returns, or fails, shuts the whole group down; SIGTERM and SIGINT shut it
    /// down gracefully.
    public static func tunnel(_ services: [(service: any Service, name: String)], logger: Logger) -> ServiceGroup {
        ServiceGroup(
            configuration: .init(
                services: services.map { entry in
                    .init(
                        service: entry.service,
                        successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup,
                        serviceName: entry.name
                    )
                },
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger
            )
        )
    }
}
