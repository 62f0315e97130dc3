import FirezoneTime
import LinuxIO
import Logging
import NIOCore
import PhoenixCore
import PortalMessages

/// Runs a ``PhoenixSession`` on one event loop: performs its actions, arms its timer, forwards its events.
///
/// `@unchecked Sendable`: every stored property is read and written on `loop` only; the public entry points hop
/// onto it with `execute`.
final class PhoenixDriver<Topic: PortalTopic>: @unchecked Sendable {
    private let loop: any EventLoop
    private let connector: WebSocketConnector
    private let continuation: AsyncStream<PhoenixEvent<Topic.Inbound>>.Continuation
    private let logger: Logger
    private let clock = ShellClock()

    private var session: PhoenixSession<Topic, SystemRandomNumberGenerator>
    private var sockets: [PhoenixConnectionID: WebSocketConnection] = [:]
    private var timer: Scheduled<Void>?
    private var timerDeadline: Instant?

    init(
        configuration: PhoenixChannel<Topic>.Configuration,
        loop: any EventLoop,
        connector: WebSocketConnector,
        continuation: AsyncStream<PhoenixEvent<Topic.Inbound>>.Continuation,
        logger: Logger
    ) {
        self.loop = loop
        self.connector = connector
        self.continuation = continuation
        var logger = logger
        logger[metadataKey: "portal.url"] = "\(configuration.url)"
        self.logger = logger
        self.session = PhoenixSession(
            configuration: .init(
                url: configuration.url,
                joinPayload: configuration.joinPayload,
                partitionTime: configuration.partitionTime
            ),
            rng: SystemRandomNumberGenerator(),
            logger: logger,
            now: .zero
        )
    }

    func start() {
        self.loop.execute { self.pump() }
    }

    func send(_ message: Topic.Outbound) {
        self.loop.execute {
            self.session.send(message, now: self.now())
            self.pump()
        }
    }

    func close() {
        self.loop.execute {
            self.session.close(now: self.now())
            self.pump()
            self.continuation.finish()
        }
    }

    func stats() async -> PhoenixStats {
        (try? await self.loop.submit { self.session.stats }.get()) ?? PhoenixStats()
    }

    // MARK: Socket reports (on the loop)

    func connected(_ connection: PhoenixConnectionID) {
        self.session.handleConnected(connection, now: self.now())
        self.pump()
    }

    func connectFailed(_ connection: PhoenixConnectionID, _ failure: PhoenixConnectFailure) {
        self.sockets[connection] = nil
        self.session.handleConnectFailed(connection, failure, now: self.now())
        self.pump()
    }

    func received(_ text: String, on connection: PhoenixConnectionID) {
        self.session.handleText(text, from: connection, now: self.now())
        self.pump()
    }

    func disconnected(_ connection: PhoenixConnectionID, _ closure: PhoenixSocketClosure) {
        self.sockets[connection] = nil
        self.session.handleDisconnected(connection, closure, now: self.now())
        self.pump()
    }

    // MARK: Driving the session

    private func pump() {
        self.loop.preconditionInEventLoop()
        while let action = self.session.pollAction() {
            self.perform(action)
        }
        while let event = self.session.pollEvent() {
            self.log(event)
            self.continuation.yield(event)
            if case .failed = event {
                self.continuation.finish()
            }
        }
        self.armTimer()
    }

    private func perform(_ action: PhoenixAction) {
        switch action {
        case .connect(let connection, let url):
            self.logger.debug("Connecting to the portal", metadata: ["connection": "\(connection)"])
            self.sockets[connection] = self.connector.connect(to: url, on: self.loop, delegate: self, id: connection)
        case .send(let connection, let text):
            self.sockets[connection]?.send(text)
        case .close(let connection):
            self.sockets.removeValue(forKey: connection)?.close()
        }
    }

    private func armTimer() {
        guard let (deadline, reason) = self.session.pollTimeout() else {
            self.timer?.cancel()
            self.timer = nil
            self.timerDeadline = nil
            return
        }
        if self.timerDeadline == deadline {
            return
        }
        self.timer?.cancel()
        self.timerDeadline = deadline
        let delay = deadline - self.now()
        self.logger.trace("Portal timer armed", metadata: ["timer.reason": "\(reason)", "timer.in": "\(delay)"])
        self.timer = self.loop.scheduleTask(in: .nanoseconds(max(0, delay.nanoseconds))) {
            self.timerDeadline = nil
            self.session.handleTimeout(now: self.now())
            self.pump()
        }
    }

    private func log(_ event: PhoenixEvent<Topic.Inbound>) {
        switch event {
        case .joined:
            self.logger.info("Connected to the portal")
        case .message(let message):
            self.logger.debug("Portal message", metadata: ["event": "\(message.event)"])
        case .unknownEvent(let name):
            self.logger.info("Skipping unknown portal event", metadata: ["event": "\(name)"])
        case .malformedMessage(let error):
            self.logger.info("Skipping malformed portal message", metadata: ["error": "\(error)"])
        case .errorReply(let reason):
            self.logger.info("The portal answered with an error", metadata: ["reason": "\(reason)"])
        case .channelError:
            self.logger.info("The portal reported a channel error")
        case .outboundMessageDropped(let name):
            self.logger.info("Portal queue full, dropped the oldest message", metadata: ["event": "\(name)"])
        case .disconnected(let cause, let delay):
            self.logger.info("Portal connection lost", metadata: ["cause": "\(cause)", "retry.in": "\(delay)"])
        case .failed(let failure):
            self.logger.info("Giving up on the portal", metadata: ["error": "\(failure)"])
        }
    }

    private func now() -> Instant {
        self.clock.now()
    }
}

extension PhoenixDriver: WebSocketDelegate {}
