/// The `ref` of a Phoenix v1 message. We send numbers; servers echo them back, and some spell them as strings
/// (`"ref": "12"` in Firezone's fixtures), which compare equal to the number.
public enum PhoenixRef: Hashable, Sendable, Codable, CustomStringConvertible {
    case number(UInt64)
    case text(String)

    /// The numeric value, also of a string that holds only digits.
    public var number: UInt64? {
        switch self {
        case .number(let value): value
        case .text(let text): UInt64(text)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(UInt64.self) {
            self = .number(number)
        } else {
            self = .text(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let value): try container.encode(value)
        case .text(let text): try container.encode(text)
        }
    }

    public var description: String {
        switch self {
        case .number(let value): "\(value)"
        case .text(let text): text
        }
    }
}

/// A `phx_reply` payload: `{"status": "ok", "response": {…}}` or `{"status": "error", "response": {"reason": …}}`.
public enum PhoenixReply: Hashable, Sendable, Codable {
    /// The response body is not used by any event (one-way messages, Firezone #10361), so it is not kept.
    case ok
    /// `unmatched topic`, `invalid_version`, `disabled`, `unknown_message`, …
    case error(reason: String)

    private enum CodingKeys: String, CodingKey {
        case status, response
    }

    private struct ErrorResponse: Codable {
        var reason: String
    }

    private struct EmptyResponse: Codable {}

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .status) {
        case "ok":
            self = .ok
        case "error":
            let response = try container.decodeIfPresent(ErrorResponse.self, forKey: .response)
            self = .error(reason: response?.reason ?? "")
        default:
            throw DecodingError.dataCorruptedError(forKey: .status, in: container, debugDescription: "unknown status")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .ok:
            try container.encode("ok", forKey: .status)
            try container.encode(EmptyResponse(), forKey: .response)
        case .error(let reason):
            try container.encode("error", forKey: .status)
            try container.encode(ErrorResponse(reason: reason), forKey: .response)
        }
    }
}

/// What a Phoenix v1 message carries: a channel-control event or an event of the topic.
///
/// `Events` is the set the receiver expects; `Join` is the `phx_join` payload type (meaningful on the portal's
/// side only).
public enum PhoenixBody<Events: PortalEvents, Join: Hashable & Sendable & Codable>: Hashable, Sendable {
    case event(Events)
    /// `phx_join`.
    case join(Join)
    /// `heartbeat` on topic `phoenix`.
    case heartbeat
    /// `phx_leave`.
    case leave
    case reply(PhoenixReply)
    /// `phx_error`: the server-side channel process crashed.
    case channelError
    /// `phx_close`: the server closed the channel.
    case channelClose
    /// `disconnect`, with its reason (`token_expired`).
    case disconnect(reason: String)
    /// An event name outside `Events`: skipped by the receiver, which logs it.
    case unknown(event: String)

    public var event: String {
        switch self {
        case .event(let events): events.event
        case .join: PhoenixControl.join
        case .heartbeat: PhoenixControl.heartbeat
        case .leave: PhoenixControl.leave
        case .reply: PhoenixControl.reply
        case .channelError: PhoenixControl.error
        case .channelClose: PhoenixControl.close
        case .disconnect: PhoenixControl.disconnect
        case .unknown(let event): event
        }
    }
}

/// Phoenix's reserved event names and topic.
public enum PhoenixControl {
    public static let join = "phx_join"
    public static let leave = "phx_leave"
    public static let reply = "phx_reply"
    public static let error = "phx_error"
    public static let close = "phx_close"
    public static let heartbeat = "heartbeat"
    public static let disconnect = "disconnect"
    /// The topic heartbeats travel on.
    public static let heartbeatTopic = "phoenix"
}

/// A Phoenix v1 JSON message: `{"topic": …, "event": …, "payload": …, "ref": …}`. Firezone's components send
/// no `join_ref`; a received one is ignored.
public struct PhoenixMessage<Events: PortalEvents, Join: Hashable & Sendable & Codable>: Hashable, Sendable {
    public var topic: String
    public var body: PhoenixBody<Events, Join>
    /// Null on server pushes.
    public var ref: PhoenixRef?

    public init(topic: String, body: PhoenixBody<Events, Join>, ref: PhoenixRef?) {
        self.topic = topic
        self.body = body
        self.ref = ref
    }
}
