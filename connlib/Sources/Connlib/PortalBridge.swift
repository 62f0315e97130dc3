import DequeModule
import FirezoneCrypto
import Glibc
import LinuxIO
import Logging
import NIOCore
import PhoenixChannel
import PhoenixCore
import PortalMessages
import ServiceLifecycle
import Synchronization

/// The portal connection, carried between SwiftNIO (where ``PhoenixChannel`` runs) and the data-plane thread
/// (where the tunnel's state lives): a service that connects when its group starts it and closes on graceful
/// shutdown.
///
/// Inbound, every event goes into a bounded queue and an eventfd wakes the data-plane loop, which registers
/// ``wakeupDescriptor`` with its ``EventLoopDriver`` and drains the queue with ``drain(_:)`` when it is readable
/// (its own eventfd rather than the driver's, so that the loop is told which source is ready). When the queue is
/// full the portal side waits for room: no portal message is ever dropped, and a data plane that falls behind
/// slows down the portal's socket rather than growing memory. Outbound, ``send(_:)`` hands a message to the
/// channel from any thread; messages sent before the channel exists wait in a queue of the session's own bound
/// (``PhoenixConstants/outboundQueueCapacity``), the oldest dropped and counted when it overflows.
///
/// A `.failed` event (a rejected token, the partition time passed) is delivered to the data plane and also ends
/// ``run()`` with ``PortalFailed``, which shuts the group down. ``reconnect()`` replaces the connection with a new
/// one, whose join brings a fresh `init`: what a gateway or client does when its last relay is gone, as Firezone
/// 685acdac3a's portal announces relays only in `init` and `relays_presence`. ``reconnect(publicKey:)`` does the same
/// with a new WireGuard key in the login parameters: a client whose reset rotated its key.
public final class PortalBridge<Topic: PortalTopic>: Service, Sendable {
    public static var defaultCapacity: Int { 256 }

    /// The portal gave up; the process exits with this reason.
    public struct PortalFailed: Error, CustomStringConvertible {
        public var failure: PhoenixFailure

        public var description: String {
            "stopping: \(self.failure)"
        }
    }

    /// Counters and state for metrics, readable from any thread.
    public struct Stats: Sendable, Hashable {
        /// Events waiting for the data plane.
        public var inboundDepth: Int
        /// How often the portal side found the queue full and waited.
        public var inboundFullWaits: UInt64
        /// Outbound messages dropped before the channel existed.
        public var outboundDropped: UInt64
        public var isJoined: Bool
    }

    private struct State {
        var configuration: PhoenixChannel<Topic>.Configuration
        var inbound: Deque<PhoenixEvent<Topic.Inbound>> = []
        var channel: PhoenixChannel<Topic>?
        var pendingOutbound: Deque<Topic.Outbound> = []
        var inboundFullWaits: UInt64 = 0
        var outboundDropped: UInt64 = 0
        var isJoined = false
        var isClosed = false
        var reconnectRequested = false
    }

    public let capacity: Int
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state: Mutex<State>
    private let eventfd: Int32

    /// `capacity` bounds the inbound queue (at least 1).
    public init(
        configuration: PhoenixChannel<Topic>.Configuration,
        group: any EventLoopGroup,
        logger: Logger,
        capacity: Int = PortalBridge.defaultCapacity
    ) throws(SystemCallError) {
        let fd = fz_eventfd_create()
        guard fd >= 0 else {
            throw SystemCallError(operation: "eventfd", errno: -fd)
        }
        self.eventfd = fd
        self.state = Mutex(State(configuration: configuration))
        self.group = group
        self.logger = logger
        self.capacity = max(capacity, 1)
    }

    deinit {
        _ = Glibc.close(self.eventfd)
    }

    /// Readable while events wait: register it with the data plane's driver.
    public var wakeupDescriptor: Int32 {
        self.eventfd
    }

    /// What the next connection signs in with.
    public var configuration: PhoenixChannel<Topic>.Configuration {
        self.state.withLock { $0.configuration }
    }

    /// Whether the channel is joined now (for `/readyz`).
    public var isJoined: Bool {
        self.state.withLock { $0.isJoined }
    }

    public var stats: Stats {
        self.state.withLock {
            Stats(
                inboundDepth: $0.inbound.count,
                inboundFullWaits: $0.inboundFullWaits,
                outboundDropped: $0.outboundDropped,
                isJoined: $0.isJoined
            )
        }
    }

    // MARK: Data-plane side

    /// Hands every waiting event to `handle`, oldest first, on the caller's thread.
    public func drain(_ handle: (PhoenixEvent<Topic.Inbound>) -> Void) {
        fz_eventfd_drain(self.eventfd)
        while let event = self.state.withLock({ $0.inbound.popFirst() }) {
            handle(event)
        }
    }

    /// Sends `message` to the portal (queued by the session until it is joined).
    public func send(_ message: Topic.Outbound) {
        let channel: PhoenixChannel<Topic>? = self.state.withLock { state in
            guard let channel = state.channel else {
                if state.pendingOutbound.count == PhoenixConstants.outboundQueueCapacity {
                    state.pendingOutbound.removeFirst()
                    state.outboundDropped += 1
                }
                state.pendingOutbound.append(message)
                return nil
            }
            return channel
        }
        channel?.send(message)
    }

    // MARK: Portal side

    /// Puts an event in the queue and wakes the data plane; waits while the queue is full. Returns false once the
    /// bridge is closed.
    @discardableResult
    public func deliver(_ event: PhoenixEvent<Topic.Inbound>) async -> Bool {
        while true {
            let outcome: Bool? = self.state.withLock { state in
                if state.isClosed {
                    return false
                }
                guard state.inbound.count < self.capacity else {
                    state.inboundFullWaits += 1
                    return nil
                }
                switch event {
                case .joined: state.isJoined = true
                case .disconnected, .failed: state.isJoined = false
                default: break
                }
                state.inbound.append(event)
                return true
            }
            if let outcome {
                if outcome {
                    fz_eventfd_signal(self.eventfd)
                }
                return outcome
            }
            // The data plane drains the queue within a turn of its loop; poll for room at that pace.
            do {
                try await Task.sleep(for: .milliseconds(1))
            } catch {
                return false
            }
        }
    }

    /// Stops accepting events; a waiting ``deliver(_:)`` returns false.
    public func closeInbound() {
        self.state.withLock { $0.isClosed = true }
    }

    /// Closes the connection and opens a new one (from any thread); the data plane then sees `.joined` and the
    /// portal's `init` again.
    public func reconnect() {
        let channel: PhoenixChannel<Topic>? = self.state.withLock { state in
            state.reconnectRequested = true
            return state.channel
        }
        channel?.close()
    }

    /// Closes the connection and opens a new one that signs in with `publicKey` (from any thread): the client's
    /// reset made a new WireGuard key, which the portal must hand the gateways with the next flows (Firezone
    /// 685acdac3a's rust/client-shared/src/eventloop.rs, `PortalCommand::Connect` with the new key). Messages sent
    /// from now on wait for the new connection: sent on the old one, the portal would answer them for the old key.
    public func reconnect(publicKey: PublicKey) {
        let channel: PhoenixChannel<Topic>? = self.state.withLock { state in
            state.configuration.url.parameters = state.configuration.url.parameters.replacingPublicKey(
                with: publicKey.base64
            )
            // Without a connection the next one signs in with the new key anyway.
            if state.channel != nil {
                state.reconnectRequested = true
            }
            defer {
                state.channel = nil
                state.isJoined = false
            }
            return state.channel
        }
        channel?.close()
    }

    public func run() async throws {
        while true {
            try await self.runConnection()
            let again = self.state.withLock { state in
                defer { state.reconnectRequested = false }
                return state.reconnectRequested && !state.isClosed
            }
            guard again, !Task.isCancelled, !Task.isShuttingDownGracefully else {
                return
            }
            self.logger.info("Reconnecting to the portal for a fresh init")
        }
    }

    /// One connection, until it fails, closes or the group shuts down.
    private func runConnection() async throws {
        let configuration = self.configuration
        let channel = try PhoenixChannel<Topic>(
            configuration: configuration,
            group: self.group,
            logger: self.logger
        )
        let pending = self.state.withLock { state in
            state.channel = channel
            defer { state.pendingOutbound.removeAll() }
            return Array(state.pendingOutbound)
        }
        for message in pending {
            channel.send(message)
        }
        defer {
            channel.close()
            self.state.withLock { state in
                if state.channel === channel {
                    state.channel = nil
                    state.isJoined = false
                }
            }
            self.logger.info("Portal connection closed")
        }
        self.logger.info("Connecting to the portal", metadata: ["portal.url": "\(configuration.url)"])
        for await event in channel.events.cancelOnGracefulShutdown() {
            // After reconnect(publicKey:) the old connection's events speak for the old key: none reaches the data
            // plane.
            guard self.state.withLock({ $0.channel === channel }) else {
                continue
            }
            await self.deliver(event)
            if case .failed(let failure) = event {
                throw PortalFailed(failure: failure)
            }
        }
    }
}
