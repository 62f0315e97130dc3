/// The `relay` topic (`/relay/websocket`): the relay joins with its credential secret and otherwise only sends
/// heartbeats, as Firezone's relay (rust/relay/server/src/main.rs).
public enum RelayTopic: PortalTopic {
    public typealias Inbound = RelayInbound
    public typealias Outbound = RelayOutbound
    public typealias JoinPayload = RelayJoin
    public static let name = "relay"
}

/// The relay's `phx_join` payload: the secret the portal mints the relay's TURN credentials from
/// (Firezone's rust/relay/server/src/auth.rs).
public struct RelayJoin: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Hex of 32 random bytes. A secret: never logged.
    public var stampSecret: String

    public init(stampSecret: String) {
        self.stampSecret = stampSecret
    }

    private enum CodingKeys: String, CodingKey {
        case stampSecret = "stamp_secret"
    }

    public var description: String {
        "RelayJoin(stamp_secret: <redacted>)"
    }
}

/// Portal → relay: `init` (an empty object) after the join; the relay needs nothing from it.
public enum RelayInbound: PortalEvents {
    case initialize

    public var event: String {
        switch self {
        case .initialize: "init"
        }
    }

    public init?(event: String, payload: any Decoder) throws {
        switch event {
        case "init": self = .initialize
        default: return nil
        }
    }

    public func encodePayload(to encoder: any Encoder) throws {
        switch self {
        case .initialize:
            // An empty object, as the portal sends.
            _ = encoder.container(keyedBy: NoKeys.self)
        }
    }

    private enum NoKeys: CodingKey {}
}

/// Relay → portal: nothing beyond the join and heartbeats.
public enum RelayOutbound: PortalEvents {
    public var event: String {
        switch self {}
    }

    public init?(event: String, payload: any Decoder) throws {
        return nil
    }

    public func encodePayload(to encoder: any Encoder) throws {
        switch self {}
    }
}
