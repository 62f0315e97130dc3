import FoundationEssentials

/// Reads and writes Phoenix v1 JSON messages.
///
/// Decoding is one pass over the text: the envelope's `event` picks the payload type. Unknown fields anywhere
/// are ignored; an unknown event is returned as such; a known event with a bad payload, or text that is no
/// Phoenix message at all, is a ``PortalDecodingError`` (never a trap). Encoding sorts keys and leaves `/`
/// unescaped, so the same message always yields the same bytes and base64 keys read as they are.
public enum PortalCodec {
    public static func decode<Events, Join>(
        _ text: String,
        as type: PhoenixMessage<Events, Join>.Type = PhoenixMessage<Events, Join>.self
    ) throws(PortalDecodingError) -> PhoenixMessage<Events, Join> {
        let wire: WireMessage<Events, Join>
        do {
            wire = try JSONDecoder().decode(WireMessage<Events, Join>.self, from: Data(text.utf8))
        } catch let error as DecodingError {
            throw PortalDecodingError(kind: .invalidEnvelope, event: "", detail: error.summary)
        } catch {
            throw PortalDecodingError(kind: .invalidEnvelope, event: "", detail: "not JSON")
        }
        switch wire.body {
        case .success(let body):
            return PhoenixMessage(topic: wire.topic, body: body, ref: wire.ref)
        case .failure(let error):
            throw PortalDecodingError(
                kind: .malformedPayload,
                event: wire.event,
                detail: error.summary,
                topic: wire.topic,
                ref: wire.ref
            )
        }
    }

    /// Reads the `{"event": …, "payload": …}` pair alone, without `topic` or `ref`: the shape in which connlib's
    /// tests (and some fixtures) spell an event. Nil for an event outside `Events`.
    public static func decodeEvent<Events: PortalEvents>(
        _ text: String,
        as type: Events.Type = Events.self
    ) throws(PortalDecodingError) -> Events? {
        let wire: WireEvent<Events>
        do {
            wire = try JSONDecoder().decode(WireEvent<Events>.self, from: Data(text.utf8))
        } catch let error as DecodingError {
            throw PortalDecodingError(kind: .invalidEnvelope, event: "", detail: error.summary)
        } catch {
            throw PortalDecodingError(kind: .invalidEnvelope, event: "", detail: "not JSON")
        }
        switch wire.events {
        case .success(let events):
            return events
        case .failure(let error):
            throw PortalDecodingError(kind: .malformedPayload, event: wire.event, detail: error.summary)
        }
    }

    public static func encode<Events, Join>(_ message: PhoenixMessage<Events, Join>) -> String {
        Self.encodeJSON(WireMessageOut(message: message))
    }

    /// Any payload value on its own, with the same formatting as messages (for tests and the portal's admin API).
    public static func encodeJSON(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            // Our payload types hold only strings, numbers and lists of them: nothing JSON cannot represent.
            preconditionFailure("a portal message failed to encode: \(error)")
        }
    }

    /// Decodes any `Decodable` from JSON text, as ``PortalDecodingError`` on failure.
    public static func decodeJSON<T: Decodable>(_ type: T.Type, from text: String) throws(PortalDecodingError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch let error as DecodingError {
            throw PortalDecodingError(kind: .malformedPayload, event: "", detail: error.summary)
        } catch {
            throw PortalDecodingError(kind: .malformedPayload, event: "", detail: "not JSON")
        }
    }
}

private enum WireKeys: String, CodingKey {
    case topic, event, payload, ref
}

private struct WireMessage<Events: PortalEvents, Join: Hashable & Sendable & Codable>: Decodable {
    var topic: String
    var event: String
    var ref: PhoenixRef?
    /// A payload that does not fit its event is kept as an error, so that the caller learns the event's name.
    var body: Result<PhoenixBody<Events, Join>, DecodingError>

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: WireKeys.self)
        self.topic = try container.decode(String.self, forKey: .topic)
        self.event = try container.decode(String.self, forKey: .event)
        self.ref = try container.decodeIfPresent(PhoenixRef.self, forKey: .ref)
        let event = self.event
        self.body = Result { () throws(DecodingError) -> PhoenixBody<Events, Join> in
            do {
                return try Self.body(event: event, container: container)
            } catch let error as DecodingError {
                throw error
            } catch {
                throw DecodingError.dataCorrupted(.init(codingPath: [WireKeys.payload], debugDescription: "\(error)"))
            }
        }
    }

    private static func body(
        event: String,
        container: KeyedDecodingContainer<WireKeys>
    ) throws -> PhoenixBody<Events, Join> {
        switch event {
        case PhoenixControl.join:
            return .join(try Join(from: container.superDecoder(forKey: .payload)))
        case PhoenixControl.heartbeat:
            return .heartbeat
        case PhoenixControl.leave:
            return .leave
        case PhoenixControl.reply:
            return .reply(try container.decode(PhoenixReply.self, forKey: .payload))
        case PhoenixControl.error:
            return .channelError
        case PhoenixControl.close:
            return .channelClose
        case PhoenixControl.disconnect:
            return .disconnect(reason: try container.decode(DisconnectPayload.self, forKey: .payload).reason)
        default:
            guard let events = try Events(event: event, payload: container.superDecoder(forKey: .payload)) else {
                return .unknown(event: event)
            }
            return .event(events)
        }
    }
}

private struct WireEvent<Events: PortalEvents>: Decodable {
    var event: String
    var events: Result<Events?, DecodingError>

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: WireKeys.self)
        let event = try container.decode(String.self, forKey: .event)
        self.event = event
        self.events = Result { () throws(DecodingError) -> Events? in
            do {
                return try Events(event: event, payload: container.superDecoder(forKey: .payload))
            } catch let error as DecodingError {
                throw error
            } catch {
                throw DecodingError.dataCorrupted(.init(codingPath: [WireKeys.payload], debugDescription: "\(error)"))
            }
        }
    }
}

private struct DisconnectPayload: Codable {
    var reason: String
}

private struct WireMessageOut<Events: PortalEvents, Join: Hashable & Sendable & Codable>: Encodable {
    var message: PhoenixMessage<Events, Join>

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(self.message.topic, forKey: .topic)
        try container.encode(self.message.body.event, forKey: .event)
        try container.encode(self.message.ref, forKey: .ref)
        switch self.message.body {
        case .event(let events):
            try events.encodePayload(to: container.superEncoder(forKey: .payload))
        case .join(let payload):
            try container.encode(payload, forKey: .payload)
        case .heartbeat, .leave, .channelClose, .channelError, .unknown:
            try container.encode([String: String](), forKey: .payload)
        case .reply(let reply):
            try container.encode(reply, forKey: .payload)
        case .disconnect(let reason):
            try container.encode(DisconnectPayload(reason: reason), forKey: .payload)
        }
    }
}
