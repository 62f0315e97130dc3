/// Why a portal message could not be read. A message that fails to decode is reported and skipped: it never
/// takes the connection down.
public struct PortalDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// Not a Phoenix message: not JSON, not an object, or without `event` or `topic`.
        case invalidEnvelope
        /// A known event whose payload does not have the shape the event requires.
        case malformedPayload
    }

    public var kind: Kind
    /// The event the payload belongs to (empty for envelope errors).
    public var event: String
    /// What exactly was wrong, for the log. Never contains secrets: decoding errors name keys, not values.
    public var detail: String
    /// The topic and ref of a message whose payload was malformed, so that a server can answer it.
    public var topic: String?
    public var ref: PhoenixRef?

    public init(kind: Kind, event: String, detail: String, topic: String? = nil, ref: PhoenixRef? = nil) {
        self.kind = kind
        self.event = event
        self.detail = detail
        self.topic = topic
        self.ref = ref
    }

    public var description: String {
        switch self.kind {
        case .invalidEnvelope: "invalid Phoenix message: \(self.detail)"
        case .malformedPayload: "malformed payload of '\(self.event)': \(self.detail)"
        }
    }
}

extension DecodingError {
    /// The key path and reason, without the offending value (which may be a secret).
    var summary: String {
        func path(_ context: Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "top level" : keys.joined(separator: ".")
        }
        switch self {
        case .keyNotFound(let key, let context):
            return "missing '\(key.stringValue)' at \(path(context))"
        case .typeMismatch(let type, let context):
            return "expected \(type) at \(path(context))"
        case .valueNotFound(let type, let context):
            return "expected \(type), found null at \(path(context))"
        case .dataCorrupted(let context):
            return "\(context.debugDescription) at \(path(context))"
        @unknown default:
            return "undecodable"
        }
    }
}
