import FirezoneCrypto
import IPPacket

/// The `gateway` topic (`/gateway/websocket`) with the v1 event names of Firezone 685acdac3a
/// (rust/connlib/tunnel/src/messages/gateway.rs).
public enum GatewayTopic: PortalTopic {
    public typealias Inbound = GatewayInbound
    public typealias Outbound = GatewayOutbound
    public typealias JoinPayload = EmptyPayload
    public static let name = "gateway"
}

/// Portal → gateway. The events of gateways up to 1.3 (`request_connection`, `allow_access`), which the portal
/// marks deprecated since 1.4, are not implemented and arrive as unknown events.
public enum GatewayInbound: PortalEvents {
    case initialize(GatewayInit)
    case authorizeFlow(AuthorizeFlow)
    case rejectAccess(RejectAccess)
    case accessAuthorizationExpiryUpdated(AccessAuthorizationExpiryUpdated)
    case relaysPresence(RelaysPresence)
    /// Only the filters of the resource change.
    case resourceUpdated(GatewayResource)
    case iceCandidates(ClientIceCandidates)
    case invalidateIceCandidates(ClientIceCandidates)

    public var event: String {
        switch self {
        case .initialize: "init"
        case .authorizeFlow: "authorize_flow"
        case .rejectAccess: "reject_access"
        case .accessAuthorizationExpiryUpdated: "access_authorization_expiry_updated"
        case .relaysPresence: "relays_presence"
        case .resourceUpdated: "resource_updated"
        case .iceCandidates: "ice_candidates"
        case .invalidateIceCandidates: "invalidate_ice_candidates"
        }
    }

    public init?(event: String, payload: any Decoder) throws {
        switch event {
        case "init": self = .initialize(try GatewayInit(from: payload))
        case "authorize_flow": self = .authorizeFlow(try AuthorizeFlow(from: payload))
        case "reject_access": self = .rejectAccess(try RejectAccess(from: payload))
        case "access_authorization_expiry_updated":
            self = .accessAuthorizationExpiryUpdated(try AccessAuthorizationExpiryUpdated(from: payload))
        case "relays_presence": self = .relaysPresence(try RelaysPresence(from: payload))
        case "resource_updated": self = .resourceUpdated(try GatewayResource(from: payload))
        case "ice_candidates": self = .iceCandidates(try ClientIceCandidates(from: payload))
        case "invalidate_ice_candidates": self = .invalidateIceCandidates(try ClientIceCandidates(from: payload))
        default: return nil
        }
    }

    public func encodePayload(to encoder: any Encoder) throws {
        switch self {
        case .initialize(let payload): try payload.encode(to: encoder)
        case .authorizeFlow(let payload): try payload.encode(to: encoder)
        case .rejectAccess(let payload): try payload.encode(to: encoder)
        case .accessAuthorizationExpiryUpdated(let payload): try payload.encode(to: encoder)
        case .relaysPresence(let payload): try payload.encode(to: encoder)
        case .resourceUpdated(let payload): try payload.encode(to: encoder)
        case .iceCandidates(let payload): try payload.encode(to: encoder)
        case .invalidateIceCandidates(let payload): try payload.encode(to: encoder)
        }
    }
}

/// Gateway → portal.
public enum GatewayOutbound: PortalEvents {
    /// The answer to `authorize_flow`, after the connection to the client was set up.
    case flowAuthorized(FlowAuthorized)
    case broadcastIceCandidates(ClientsIceCandidates)
    case broadcastInvalidatedIceCandidates(ClientsIceCandidates)

    public var event: String {
        switch self {
        case .flowAuthorized: "flow_authorized"
        case .broadcastIceCandidates: "broadcast_ice_candidates"
        case .broadcastInvalidatedIceCandidates: "broadcast_invalidated_ice_candidates"
        }
    }

    public init?(event: String, payload: any Decoder) throws {
        switch event {
        case "flow_authorized": self = .flowAuthorized(try FlowAuthorized(from: payload))
        case "broadcast_ice_candidates": self = .broadcastIceCandidates(try ClientsIceCandidates(from: payload))
        case "broadcast_invalidated_ice_candidates":
            self = .broadcastInvalidatedIceCandidates(try ClientsIceCandidates(from: payload))
        default: return nil
        }
    }

    public func encodePayload(to encoder: any Encoder) throws {
        switch self {
        case .flowAuthorized(let payload): try payload.encode(to: encoder)
        case .broadcastIceCandidates(let payload): try payload.encode(to: encoder)
        case .broadcastInvalidatedIceCandidates(let payload): try payload.encode(to: encoder)
        }
    }
}

public struct GatewayInit: Hashable, Sendable, Codable {
    public var interface: GatewayInterface
    public var config: GatewayConfig
    public var relays: LenientList<RelayEntry>
    public var accountSlug: String?
    /// Flows the portal still considers authorized (longest expiry per pair); the gateway keeps only these.
    public var authorizations: [Authorization]

    public init(
        interface: GatewayInterface,
        config: GatewayConfig,
        relays: [RelayEntry],
        accountSlug: String?,
        authorizations: [Authorization]
    ) {
        self.interface = interface
        self.config = config
        self.relays = LenientList(relays)
        self.accountSlug = accountSlug
        self.authorizations = authorizations
    }

    private enum CodingKeys: String, CodingKey {
        case interface, config, relays
        case accountSlug = "account_slug"
        case authorizations
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.interface = try container.decode(GatewayInterface.self, forKey: .interface)
        self.config = try container.decode(GatewayConfig.self, forKey: .config)
        self.relays = try container.decodeLenientList(RelayEntry.self, forKey: .relays)
        self.accountSlug = try container.decodeIfPresent(String.self, forKey: .accountSlug)
        self.authorizations = try container.decodeIfPresent([Authorization].self, forKey: .authorizations) ?? []
    }
}

/// Masquerade flags; Firezone's gateway reads and ignores them (its OS setup script configures NAT).
public struct GatewayConfig: Hashable, Sendable, Codable {
    public var ipv4MasqueradeEnabled: Bool
    public var ipv6MasqueradeEnabled: Bool

    public init(ipv4MasqueradeEnabled: Bool, ipv6MasqueradeEnabled: Bool) {
        self.ipv4MasqueradeEnabled = ipv4MasqueradeEnabled
        self.ipv6MasqueradeEnabled = ipv6MasqueradeEnabled
    }

    private enum CodingKeys: String, CodingKey {
        case ipv4MasqueradeEnabled = "ipv4_masquerade_enabled"
        case ipv6MasqueradeEnabled = "ipv6_masquerade_enabled"
    }
}

public struct Authorization: Hashable, Sendable, Codable {
    public var clientID: ClientID
    public var resourceID: ResourceID
    /// Unix seconds.
    public var expiresAt: UInt64

    public init(clientID: ClientID, resourceID: ResourceID, expiresAt: UInt64) {
        self.clientID = clientID
        self.resourceID = resourceID
        self.expiresAt = expiresAt
    }

    private enum CodingKeys: String, CodingKey {
        case clientID = "client_id"
        case resourceID = "resource_id"
        case expiresAt = "expires_at"
    }
}

/// `authorize_flow`: let a client reach a resource through this gateway and connect to it.
public struct AuthorizeFlow: Hashable, Sendable, Codable {
    /// Opaque; sent back unchanged in `flow_authorized`.
    public var ref: String
    public var resource: GatewayResource
    public var client: FlowClient
    public var clientIceCredentials: IceCredentials
    public var gatewayIceCredentials: IceCredentials
    /// Unix seconds; nil means the authorization does not expire.
    public var expiresAt: UInt64?

    public init(
        ref: String,
        resource: GatewayResource,
        client: FlowClient,
        clientIceCredentials: IceCredentials,
        gatewayIceCredentials: IceCredentials,
        expiresAt: UInt64?
    ) {
        self.ref = ref
        self.resource = resource
        self.client = client
        self.clientIceCredentials = clientIceCredentials
        self.gatewayIceCredentials = gatewayIceCredentials
        self.expiresAt = expiresAt
    }

    private enum CodingKeys: String, CodingKey {
        case ref, resource, client
        case clientIceCredentials = "client_ice_credentials"
        case gatewayIceCredentials = "gateway_ice_credentials"
        case expiresAt = "expires_at"
    }
}

/// The client of an `authorize_flow`.
public struct FlowClient: Hashable, Sendable, Codable {
    public var id: ClientID
    public var publicKey: PublicKey
    public var presharedKey: PresharedKey
    public var ipv4: IPv4Address
    public var ipv6: IPv6Address

    public init(
        id: ClientID,
        publicKey: PublicKey,
        presharedKey: PresharedKey,
        ipv4: IPv4Address,
        ipv6: IPv6Address
    ) {
        self.id = id
        self.publicKey = publicKey
        self.presharedKey = presharedKey
        self.ipv4 = ipv4
        self.ipv6 = ipv6
    }

    private enum CodingKeys: String, CodingKey {
        case id
        case publicKey = "public_key"
        case presharedKey = "preshared_key"
        case ipv4, ipv6
    }
}

public struct FlowAuthorized: Hashable, Sendable, Codable {
    public var ref: String

    public init(ref: String) {
        self.ref = ref
    }
}

public struct RejectAccess: Hashable, Sendable, Codable {
    public var clientID: ClientID
    public var resourceID: ResourceID

    public init(clientID: ClientID, resourceID: ResourceID) {
        self.clientID = clientID
        self.resourceID = resourceID
    }

    private enum CodingKeys: String, CodingKey {
        case clientID = "client_id"
        case resourceID = "resource_id"
    }
}

/// Sent when a flow ended but another one still authorizes the pair: the authorization lives on until `expiresAt`.
/// Its payload is an ``Authorization``, with the same three keys.
public typealias AccessAuthorizationExpiryUpdated = Authorization

/// `ice_candidates` / `invalidate_ice_candidates` to a gateway: candidates of one client.
public struct ClientIceCandidates: Hashable, Sendable, Codable {
    public var clientID: ClientID
    public var candidates: [String]

    public init(clientID: ClientID, candidates: [String]) {
        self.clientID = clientID
        self.candidates = candidates
    }

    private enum CodingKeys: String, CodingKey {
        case clientID = "client_id"
        case candidates
    }
}

/// `broadcast_ice_candidates` / `broadcast_invalidated_ice_candidates` from a gateway: candidates for clients.
public struct ClientsIceCandidates: Hashable, Sendable, Codable {
    public var clientIDs: [ClientID]
    public var candidates: [String]

    public init(clientIDs: [ClientID], candidates: [String]) {
        self.clientIDs = clientIDs
        self.candidates = candidates
    }

    private enum CodingKeys: String, CodingKey {
        case clientIDs = "client_ids"
        case candidates
    }
}
