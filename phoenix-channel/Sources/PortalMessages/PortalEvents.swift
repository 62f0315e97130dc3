/// The events one side of a topic sends: a closed set of event names, each with its payload type.
///
/// On the wire an event is the pair of the envelope's `event` and `payload` fields (Phoenix v1).
public protocol PortalEvents: Hashable, Sendable {
    /// The `event` field.
    var event: String { get }

    /// Reads the payload of `event`; nil when the event is not one of this set.
    init?(event: String, payload: any Decoder) throws

    /// Writes the payload.
    func encodePayload(to encoder: any Encoder) throws
}

/// A payload that is JSON `null` on the way out and anything on the way in: the join payload of the client and
/// gateway topics.
public struct EmptyPayload: Hashable, Sendable, Codable {
    public init() {}

    public init(from decoder: any Decoder) throws {}

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encodeNil()
    }
}

/// A topic of the portal's socket and what travels on it.
public protocol PortalTopic: Sendable {
    /// Events the portal pushes to the component.
    associatedtype Inbound: PortalEvents
    /// Events the component sends to the portal.
    associatedtype Outbound: PortalEvents
    /// The `phx_join` payload.
    associatedtype JoinPayload: Hashable & Sendable & Codable

    /// The topic name, also the socket's path component: `/<name>/websocket`.
    static var name: String { get }
}
