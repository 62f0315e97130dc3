import FirezoneTime
import Logging
import NIOCore
import NIOPosix
import PhoenixCore
import PortalMessages

/// The portal connection of a component: a ``PhoenixSession`` driven over a SwiftNIO WebSocket (`ws://` or
/// `wss://`).
///
/// Everything runs on one event loop: the session, its timer and the socket's handlers, so the session needs no
/// lock. The owner sends with ``send(_:)`` from any thread and reads ``events`` until `.failed` ends the stream
/// (or ``close()`` does).
public final class PhoenixChannel<Topic: PortalTopic>: Sendable {
    public struct Configuration: Sendable {
        public var url: PortalURL
        public var joinPayload: Topic.JoinPayload
        /// nil: retry forever.
        public var partitionTime: Duration?
        /// `<os>/<version> <component>/<version> (<arch>; <kernel>)`, see ``UserAgent``.
        public var userAgent: String
        /// For `wss://`: the certificates to trust; nil trusts the system's roots.
        public var trustRootsPEMFile: String?

        public init(
            url: PortalURL,
            joinPayload: Topic.JoinPayload,
            partitionTime: Duration?,
            userAgent: String,
            trustRootsPEMFile: String? = nil
        ) {
            self.url = url
            self.joinPayload = joinPayload
            self.partitionTime = partitionTime
            self.userAgent = userAgent
            self.trustRootsPEMFile = trustRootsPEMFile
        }
    }

    /// What the session reports, in order. Finishes after `.failed` or ``close()``.
    public let events: AsyncStream<PhoenixEvent<Topic.Inbound>>
    private let driver: PhoenixDriver<Topic>

    /// Starts connecting at once on one of `group`'s event loops.
    public init(configuration: Configuration, group: any EventLoopGroup, logger: Logger) throws {
        let (events, continuation) = AsyncStream.makeStream(of: PhoenixEvent<Topic.Inbound>.self)
        self.events = events
        let connector = try WebSocketConnector(
            userAgent: configuration.userAgent,
            trustRootsPEMFile: configuration.trustRootsPEMFile,
            tls: configuration.url.scheme == .wss
        )
        self.driver = PhoenixDriver(
            configuration: configuration,
            loop: group.next(),
            connector: connector,
            continuation: continuation,
            logger: logger
        )
        self.driver.start()
    }

    /// Sends `message` once joined (queued until then, see ``PhoenixConstants/outboundQueueCapacity``).
    public func send(_ message: Topic.Outbound) {
        self.driver.send(message)
    }

    /// Closes the socket and ends ``events``.
    public func close() {
        self.driver.close()
    }

    /// The session's counters, read on its event loop.
    public func stats() async -> PhoenixStats {
        await self.driver.stats()
    }
}
