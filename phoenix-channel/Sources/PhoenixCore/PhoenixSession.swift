import DequeModule
import FirezoneTime
import Logging
import PortalMessages

/// The portal connection of one component as a sans-IO state machine: one Phoenix channel (`Topic`) over one
/// WebSocket at a time, with the join, heartbeat, reconnect and queueing rules of Firezone 685acdac3a
/// (rust/connlib/phoenix-channel/src/lib.rs), plus heartbeat replies tracked (``PhoenixConstants``).
///
/// The shell drives it like this:
/// ```
/// loop {
///     while let action = session.pollAction() { perform it: open, send on or close a WebSocket }
///     while let event = session.pollEvent() { hand it to the component }
///     wait for a socket report, a message to send, or session.pollTimeout()
///     session.handleConnected / handleConnectFailed / handleText / handleDisconnected / send / handleTimeout
/// }
/// ```
/// Time comes in as `now`; the reconnect jitter comes from the injected `RNG`. Nothing here reads a clock or
/// touches a socket, so every rule has a deterministic test.
public struct PhoenixSession<Topic: PortalTopic, RNG: RandomNumberGenerator> {
    public struct Configuration: Sendable {
        public var url: PortalURL
        public var joinPayload: Topic.JoinPayload
        /// How long the portal may stay unreachable before the session gives up; nil retries forever.
        public var partitionTime: Duration?

        public init(url: PortalURL, joinPayload: Topic.JoinPayload, partitionTime: Duration?) {
            self.url = url
            self.joinPayload = joinPayload
            self.partitionTime = partitionTime
        }
    }

    private typealias Outgoing = PhoenixMessage<Topic.Outbound, Topic.JoinPayload>
    private typealias Incoming = PhoenixMessage<Topic.Inbound, EmptyPayload>

    private enum State {
        /// No socket; the next attempt starts when the reconnect timer fires.
        case waiting
        /// An attempt is underway; its timeout timer runs.
        case connecting(PhoenixConnectionID)
        /// The socket is open and `phx_join` was sent with `joinRef`; its timeout timer runs.
        case joining(PhoenixConnectionID, joinRef: UInt64)
        /// The channel is joined; messages go out as they come.
        case joined(PhoenixConnectionID)
        /// Gave up or closed by the owner. Terminal.
        case closed
    }

    private enum TimerKind: Int, CaseIterable {
        case reconnect
        case connectAttempt
        case join
        case heartbeat

        var reason: StaticString {
            switch self {
            case .reconnect: "reconnect to the portal"
            case .connectAttempt: "portal connect timeout"
            case .join: "portal join timeout"
            case .heartbeat: "portal heartbeat"
            }
        }
    }

    private let configuration: Configuration
    private var logger: Logger
    private var rng: RNG
    private var state: State = .waiting
    private var timers = [Instant?](repeating: nil, count: TimerKind.allCases.count)
    private var lastNow: Instant

    private var actions: Deque<PhoenixAction> = []
    private var events: Deque<PhoenixEvent<Topic.Inbound>> = []
    /// Messages waiting for a joined channel. Kept across reconnects, as Firezone 685acdac3a keeps them.
    private var queue: Deque<Topic.Outbound> = []
    private var nextConnection: UInt64 = 0
    /// Per session, never reset: a reply can never be mistaken for one to an earlier connection's frame.
    private var nextRef: UInt64 = 0
    /// The unanswered heartbeat, if any.
    private var pendingHeartbeat: UInt64?
    private var backoff = ReconnectBackoff()
    /// When the portal became unreachable; nil while joined.
    private var unreachableSince: Instant?

    public private(set) var stats = PhoenixStats()

    /// A session that connects at once (the first action is a `connect`).
    public init(configuration: Configuration, rng: RNG, logger: Logger, now: Instant) {
        self.configuration = configuration
        self.rng = rng
        self.logger = logger
        self.logger[metadataKey: "portal.topic"] = "\(Topic.name)"
        self.lastNow = now
        self.unreachableSince = now
        self.timers[TimerKind.reconnect.rawValue] = now
    }

    // MARK: Inputs

    /// The WebSocket of `connection` is open: join the channel.
    public mutating func handleConnected(_ connection: PhoenixConnectionID, now: Instant) {
        self.advance(to: now)
        guard case .connecting(let current) = self.state, current == connection else {
            return
        }
        self.logger.debug("Portal socket open", metadata: ["connection": "\(connection)"])
        self.clearTimer(.connectAttempt)
        self.pendingHeartbeat = nil
        self.setTimer(.heartbeat, now + PhoenixConstants.heartbeatInterval)
        let joinRef = self.transmit(.join(self.configuration.joinPayload), topic: Topic.name, on: connection, now: now)
        self.state = .joining(connection, joinRef: joinRef)
        self.setTimer(.join, now + PhoenixConstants.joinTimeout)
    }

    /// The attempt of `connection` failed before the WebSocket opened.
    public mutating func handleConnectFailed(
        _ connection: PhoenixConnectionID,
        _ failure: PhoenixConnectFailure,
        now: Instant
    ) {
        self.advance(to: now)
        guard case .connecting(let current) = self.state, current == connection else {
            return
        }
        switch failure {
        case .upgradeRejected(let status, let body) where (400..<500).contains(status):
            self.fail(.rejected(status: status, body: body), connection: connection)
        case .tls(let detail):
            self.fail(.tls(detail), connection: connection)
        case .upgradeRejected, .transport:
            self.reconnect(.connectFailed(failure), closing: connection, now: now)
        }
    }

    /// The open WebSocket of `connection` closed (by the server or the network).
    public mutating func handleDisconnected(
        _ connection: PhoenixConnectionID,
        _ closure: PhoenixSocketClosure,
        now: Instant
    ) {
        self.advance(to: now)
        guard let current = self.openConnection, current == connection else {
            return
        }
        self.reconnect(.socketClosed(closure), closing: connection, now: now)
    }

    /// A text frame arrived on `connection`.
    public mutating func handleText(_ text: String, from connection: PhoenixConnectionID, now: Instant) {
        self.advance(to: now)
        guard let current = self.openConnection, current == connection else {
            return
        }
        let message: Incoming
        do {
            message = try PortalCodec.decode(text, as: Incoming.self)
        } catch {
            self.stats.malformedMessages += 1
            self.events.append(.malformedMessage(error))
            return
        }
        self.handle(message, on: connection, now: now)
    }

    /// Sends `message` when joined, or queues it until the join reply. One-way: no reply is awaited.
    public mutating func send(_ message: Topic.Outbound, now: Instant) {
        self.advance(to: now)
        switch self.state {
        case .joined(let connection):
            self.transmit(.event(message), topic: Topic.name, on: connection, now: now)
        case .waiting, .connecting, .joining:
            if self.queue.count == PhoenixConstants.outboundQueueCapacity {
                let dropped = self.queue.removeFirst()
                self.stats.outboundMessagesDropped += 1
                self.events.append(.outboundMessageDropped(event: dropped.event))
            }
            self.queue.append(message)
        case .closed:
            break
        }
    }

    public mutating func handleTimeout(now: Instant) {
        self.advance(to: now)
        for kind in TimerKind.allCases {
            guard let deadline = self.timers[kind.rawValue], deadline <= now else {
                continue
            }
            self.clearTimer(kind)
            self.fire(kind, now: now)
        }
    }

    /// Stops for good: closes the socket, if any, and drops what is queued.
    public mutating func close(now: Instant) {
        self.advance(to: now)
        if let connection = self.connectionInUse {
            self.actions.append(.close(connection))
        }
        self.state = .closed
        self.timers = [Instant?](repeating: nil, count: TimerKind.allCases.count)
        self.queue.removeAll()
    }

    // MARK: Outputs

    public mutating func pollAction() -> PhoenixAction? {
        self.actions.popFirst()
    }

    public mutating func pollEvent() -> PhoenixEvent<Topic.Inbound>? {
        self.events.popFirst()
    }

    /// The next deadline and what it is for; never earlier than the last `now`.
    public func pollTimeout() -> (deadline: Instant, reason: StaticString)? {
        var earliest: (deadline: Instant, reason: StaticString)?
        for kind in TimerKind.allCases {
            if let deadline = self.timers[kind.rawValue], deadline < earliest?.deadline ?? .init(nanoseconds: .max) {
                earliest = (max(deadline, self.lastNow), kind.reason)
            }
        }
        return earliest
    }

    /// Whether the channel is joined.
    public var isJoined: Bool {
        if case .joined = self.state { true } else { false }
    }

    /// Whether the session gave up or was closed.
    public var isClosed: Bool {
        if case .closed = self.state { true } else { false }
    }

    // MARK: Transitions

    private mutating func handle(_ message: Incoming, on connection: PhoenixConnectionID, now: Instant) {
        if message.topic == PhoenixControl.heartbeatTopic {
            if case .reply = message.body, let ref = message.ref?.number, ref == self.pendingHeartbeat {
                self.pendingHeartbeat = nil
            }
            return
        }
        guard message.topic == Topic.name else {
            self.logger.debug("Portal message for another topic", metadata: ["topic": "\(message.topic)"])
            return
        }
        switch message.body {
        case .reply(let reply):
            self.handleReply(reply, ref: message.ref?.number, on: connection, now: now)
        case .event(let event):
            self.stats.messagesReceived += 1
            self.events.append(.message(event))
        case .unknown(let event):
            self.stats.unknownEvents += 1
            self.events.append(.unknownEvent(event))
        case .channelError:
            self.events.append(.channelError)
        case .channelClose:
            self.reconnect(.channelClosed, closing: connection, now: now)
        case .disconnect(let reason) where reason == "token_expired":
            self.fail(.tokenExpired, connection: connection)
        case .disconnect(let reason):
            self.reconnect(.disconnected(reason: reason), closing: connection, now: now)
        case .join, .heartbeat, .leave:
            // Client-to-server events; a server has no business sending them.
            self.stats.unknownEvents += 1
            self.events.append(.unknownEvent(message.body.event))
        }
    }

    private mutating func handleReply(
        _ reply: PhoenixReply,
        ref: UInt64?,
        on connection: PhoenixConnectionID,
        now: Instant
    ) {
        if case .joining(_, let joinRef) = self.state, ref == joinRef {
            switch reply {
            case .ok:
                self.join(connection, now: now)
            case .error(let reason):
                self.fail(.joinRejected(reason: reason), connection: connection)
            }
            return
        }
        switch reply {
        case .ok:
            break
        case .error(let reason) where reason == "unmatched topic":
            // The server does not know our channel (it crashed or restarted since we joined): join it again.
            guard case .joined = self.state else {
                return
            }
            self.logger.debug("Portal channel unknown to the server, joining again")
            let joinRef = self.transmit(
                .join(self.configuration.joinPayload),
                topic: Topic.name,
                on: connection,
                now: now
            )
            self.state = .joining(connection, joinRef: joinRef)
            self.setTimer(.join, now + PhoenixConstants.joinTimeout)
        case .error(let reason):
            self.events.append(.errorReply(reason: reason))
        }
    }

    private mutating func join(_ connection: PhoenixConnectionID, now: Instant) {
        self.clearTimer(.join)
        self.state = .joined(connection)
        // The backoff and the partition clock restart at the join reply, not when the WebSocket opens (where
        // Firezone 685acdac3a resets its `ExponentialBackoff`): a portal that accepts sockets and then closes them or
        // never answers the join (overloaded during a deploy, or a proxy in front of a stopped portal) would
        // otherwise be retried at once, forever, and the partition time would never run out. Only a joined
        // channel proves the portal works.
        self.backoff.reset()
        self.unreachableSince = nil
        self.logger.debug("Portal channel joined", metadata: ["queued": "\(self.queue.count)"])
        self.events.append(.joined)
        while let message = self.queue.popFirst() {
            self.transmit(.event(message), topic: Topic.name, on: connection, now: now)
        }
    }

    private mutating func fire(_ kind: TimerKind, now: Instant) {
        switch kind {
        case .reconnect:
            guard case .waiting = self.state else {
                return
            }
            let connection = PhoenixConnectionID(self.nextConnection)
            self.nextConnection += 1
            self.stats.connectAttempts += 1
            self.state = .connecting(connection)
            self.actions.append(.connect(connection, self.configuration.url))
            self.setTimer(.connectAttempt, now + PhoenixConstants.connectAttemptTimeout)
        case .connectAttempt:
            guard case .connecting(let connection) = self.state else {
                return
            }
            self.reconnect(.connectTimedOut, closing: connection, now: now)
        case .join:
            guard case .joining(let connection, _) = self.state else {
                return
            }
            self.reconnect(.joinTimedOut, closing: connection, now: now)
        case .heartbeat:
            guard let connection = self.openConnection else {
                return
            }
            if self.pendingHeartbeat != nil {
                self.reconnect(.heartbeatTimedOut, closing: connection, now: now)
                return
            }
            self.pendingHeartbeat = self.transmit(
                .heartbeat,
                topic: PhoenixControl.heartbeatTopic,
                on: connection,
                now: now
            )
            self.stats.heartbeatsSent += 1
            self.setTimer(.heartbeat, now + PhoenixConstants.heartbeatInterval)
        }
    }

    /// Drops the connection and schedules the next attempt, or gives up when the partition time has passed.
    private mutating func reconnect(_ cause: PhoenixDisconnect, closing connection: PhoenixConnectionID, now: Instant) {
        self.actions.append(.close(connection))
        self.timers = [Instant?](repeating: nil, count: TimerKind.allCases.count)
        self.pendingHeartbeat = nil
        let since = self.unreachableSince ?? now
        self.unreachableSince = since
        if let partitionTime = self.configuration.partitionTime, now - since >= partitionTime {
            self.state = .closed
            self.queue.removeAll()
            self.events.append(.failed(PhoenixFailure(.partitionTimeout(partitionTime))))
            return
        }
        var delay = self.backoff.nextDelay(using: &self.rng)
        if let partitionTime = self.configuration.partitionTime {
            // The last attempt goes out when the partition time ends; if it fails too, we give up.
            delay = min(delay, since + partitionTime - now)
        }
        self.state = .waiting
        self.setTimer(.reconnect, now + delay)
        self.events.append(.disconnected(cause, retryIn: delay))
    }

    private mutating func fail(_ kind: PhoenixFailure.Kind, connection: PhoenixConnectionID) {
        self.actions.append(.close(connection))
        self.timers = [Instant?](repeating: nil, count: TimerKind.allCases.count)
        self.state = .closed
        self.queue.removeAll()
        self.events.append(.failed(PhoenixFailure(kind)))
    }

    /// Sends one frame with a fresh ref; returns the ref. The heartbeat timer is left alone (see
    /// ``PhoenixConstants/heartbeatInterval``).
    @discardableResult
    private mutating func transmit(
        _ body: PhoenixBody<Topic.Outbound, Topic.JoinPayload>,
        topic: String,
        on connection: PhoenixConnectionID,
        now: Instant
    ) -> UInt64 {
        let ref = self.nextRef
        self.nextRef += 1
        let text = PortalCodec.encode(Outgoing(topic: topic, body: body, ref: .number(ref)))
        self.actions.append(.send(connection, text))
        if case .event = body {
            self.stats.messagesSent += 1
        }
        return ref
    }

    // MARK: Helpers

    /// The connection whose WebSocket is open.
    private var openConnection: PhoenixConnectionID? {
        switch self.state {
        case .joining(let connection, _), .joined(let connection): connection
        case .waiting, .connecting, .closed: nil
        }
    }

    /// The connection being attempted or open.
    private var connectionInUse: PhoenixConnectionID? {
        switch self.state {
        case .connecting(let connection), .joining(let connection, _), .joined(let connection): connection
        case .waiting, .closed: nil
        }
    }

    private mutating func advance(to now: Instant) {
        self.lastNow = max(self.lastNow, now)
    }

    private mutating func setTimer(_ kind: TimerKind, _ deadline: Instant) {
        self.timers[kind.rawValue] = deadline
    }

    private mutating func clearTimer(_ kind: TimerKind) {
        self.timers[kind.rawValue] = nil
    }
}
