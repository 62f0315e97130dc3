import FirezoneTesting
import FirezoneTime
import Logging
import PhoenixCore
import PortalMessages
import Testing

/// A session driven by hand: virtual time, a seeded RNG, and everything it outputs recorded.
struct SessionHarness<Topic: PortalTopic> {
    typealias Sent = PhoenixMessage<Topic.Outbound, Topic.JoinPayload>

    var session: PhoenixSession<Topic, SeededRandomNumberGenerator>
    var now = Instant.zero
    var actions: [PhoenixAction] = []
    var events: [PhoenixEvent<Topic.Inbound>] = []

    init(joinPayload: Topic.JoinPayload, partitionTime: Duration? = PhoenixConstants.defaultPartitionTime, seed: UInt64 = 1) {
        let url = try! PortalURL(
            apiURL: "ws://127.0.0.1:8081",
            topic: Topic.name,
            token: "secret-token",
            parameters: .relay(name: nil, ipv4: nil, ipv6: nil, port: 3478)
        )
        self.session = PhoenixSession(
            configuration: .init(url: url, joinPayload: joinPayload, partitionTime: partitionTime),
            rng: SeededRandomNumberGenerator(seed: seed),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            now: .zero
        )
    }

    /// Collects everything the session has to say.
    mutating func drain() {
        while let action = self.session.pollAction() {
            self.actions.append(action)
        }
        while let event = self.session.pollEvent() {
            self.events.append(event)
        }
    }

    /// Moves time forward by `duration`, firing every timer on the way at its deadline.
    mutating func advance(by duration: Duration) {
        let target = self.now + duration
        self.drain()
        while let timeout = self.session.pollTimeout(), timeout.deadline <= target {
            self.now = max(self.now, timeout.deadline)
            self.session.handleTimeout(now: self.now)
            self.drain()
        }
        self.now = target
    }

    /// Takes the recorded actions and events, leaving the record empty.
    mutating func take() -> (actions: [PhoenixAction], events: [PhoenixEvent<Topic.Inbound>]) {
        self.drain()
        defer {
            self.actions = []
            self.events = []
        }
        return (self.actions, self.events)
    }

    /// The connection the last `connect` action opened.
    var lastConnect: PhoenixConnectionID? {
        self.actions.reversed().compactMap { action -> PhoenixConnectionID? in
            if case .connect(let connection, _) = action { return connection }
            return nil
        }.first
    }

    /// Frames sent, decoded as the portal reads them.
    static func frames(in actions: [PhoenixAction]) -> [Sent] {
        actions.compactMap { action in
            guard case .send(_, let text) = action else { return nil }
            return try! PortalCodec.decode(text, as: Sent.self)
        }
    }

    mutating func receive(_ text: String, on connection: PhoenixConnectionID) {
        self.session.handleText(text, from: connection, now: self.now)
        self.drain()
    }

    mutating func reply(ref: UInt64, topic: String = Topic.name, status: String = #"{"status":"ok","response":{}}"#, on connection: PhoenixConnectionID) {
        self.receive(#"{"topic":"\#(topic)","event":"phx_reply","ref":\#(ref),"payload":\#(status)}"#, on: connection)
    }

    /// Starts, connects and joins; returns the connection.
    mutating func join() -> PhoenixConnectionID {
        self.advance(by: .zero)
        let connection = self.lastConnect!
        self.session.handleConnected(connection, now: self.now)
        self.drain()
        let joinRef = Self.frames(in: self.actions).last { if case .join = $0.body { true } else { false } }!.ref!.number!
        self.reply(ref: joinRef, on: connection)
        return connection
    }
}

extension PhoenixEvent {
    var isJoined: Bool {
        if case .joined = self { true } else { false }
    }

    var disconnect: (PhoenixDisconnect, Duration)? {
        if case .disconnected(let cause, let delay) = self { (cause, delay) } else { nil }
    }

    var failure: PhoenixFailure.Kind? {
        if case .failed(let failure) = self { failure.kind } else { nil }
    }
}

extension PhoenixAction {
    var closedConnection: PhoenixConnectionID? {
        if case .close(let connection) = self { connection } else { nil }
    }
}
