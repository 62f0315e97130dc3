import FirezoneCrypto
import IPPacket

/// The `client` topic (`/client/websocket`) with the v1 event names of Firezone 685acdac3a
/// (rust/connlib/tunnel/src/messages/client.rs).
public enum ClientTopic: PortalTopic {
    public typealias Inbound = ClientInbound
    public typealias Outbound = ClientOutbound
    public typealias JoinPayload = EmptyPayload
    public static let name = "client"
}

/// Portal → client.
public enum ClientInbound: PortalEvents {
    /// `init`: the interface, the resources the client's policies allow, the relays.
    case initialize(ClientInit)
    case configChanged(ConfigChanged)
    case resourceCreatedOrUpdated(ClientResource)
    /// The payload is the resource id alone.
    case resourceDeleted(ResourceID)
    case relaysPresence(RelaysPresence)
    case flowCreated(FlowCreated)
    case flowCreationFailed(FlowCreationFailed)
    case iceCandidates(GatewayIceCandidates)
    case invalidateIceCandidates(GatewayIceCandidates)

    public var event: String {
        switch self {
        case .initialize: "init"
        case .configChanged: "config_changed"
        case .resourceCreatedOrUpdated: "resource_created_or_updated"
        case .resourceDeleted: "resource_deleted"
        case .relaysPresence: "relays_presence"
        case .flowCreated: "flow_created"
        case .flowCreationFailed: "flow_creation_failed"
        case .iceCandidates: "ice_candidates"
        case .invalidateIceCandidates: "invalidate_ice_candidates"
        }
    }

    public init?(event: String, payload: any Decoder) throws {
        switch event {
        case "init": self = .initialize(try ClientInit(from: payload))
        case "config_changed": self = .configChanged(try ConfigChanged(from: payload))
        case "resource_created_or_updated": self = .resourceCreatedOrUpdated(try ClientResource(from: payload))
        case "resource_deleted": self = .resourceDeleted(try ResourceID(from: payload))
        case "relays_presence": self = .relaysPresence(try RelaysPresence(from: payload))
        case "flow_created": self = .flowCreated(try FlowCreated(from: payload))
        case "flow_creation_failed": self = .flowCreationFailed(try FlowCreationFailed(from: payload))
        case "ice_candidates": self = .iceCandidates(try GatewayIceCandidates(from: payload))
        case "invalidate_ice_candidates": self = .invalidateIceCandidates(try GatewayIceCandidates(from: payload))
        default: return nil
        }
    }

    public func encodePayload(to encoder: any Encoder) throws {
        switch self {
        case .initialize(let payload): try payload.encode(to: encoder)
        case .configChanged(let payload): try payload.encode(to: encoder)
        case .resourceCreatedOrUpdated(let payload): try payload.encode(to: encoder)
        case .resourceDeleted(let payload): try payload.encode(to: encoder)
        case .relaysPresence(let payload): try payload.encode(to: encoder)
        case .flowCreated(let payload): try payload.encode(to: encoder)
        case .flowCreationFailed(let payload): try payload.encode(to: encoder)
        case .iceCandidates(let payload): try payload.encode(to: encoder)
        case .invalidateIceCandidates(let payload): try payload.encode(to: encoder)
        }
    }
}

/// Client → portal. One-way: the portal answers `create_flow` with a later push, not a reply.
public enum ClientOutbound: PortalEvents {
    case createFlow(CreateFlow)
    case broadcastIceCandidates(GatewaysIceCandidates)
    case broadcastInvalidatedIceCandidates(GatewaysIceCandidates)

    public var event: String {
        switch self {
        case .createFlow: "create_flow"
        case .broadcastIceCandidates: "broadcast_ice_candidates"
        case .broadcastInvalidatedIceCandidates: "broadcast_invalidated_ice_candidates"
        }
    }

    public init?(event: String, payload: any Decoder) throws {
        switch event {
        case "create_flow": self = .createFlow(try CreateFlow(from: payload))
        case "broadcast_ice_candidates": self = .broadcastIceCandidates(try GatewaysIceCandidates(from: payload))
        case "broadcast_invalidated_ice_candidates":
            self = .broadcastInvalidatedIceCandidates(try GatewaysIceCandidates(from: payload))
        default: return nil
        }
    }

    public func encodePayload(to encoder: any Encoder) throws {
        switch self {
        case .createFlow(let payload): try payload.encode(to: encoder)
        case .broadcastIceCandidates(let payload): try payload.encode(to: encoder)
        case .broadcastInvalidatedIceCandidates(let payload): try payload.encode(to: encoder)
        }
    }
}

public struct ClientInit: Hashable, Sendable, Codable {
    public var interface: ClientInterface
    /// Resources of unknown types or with missing fields are skipped (and counted), as connlib does at Firezone
    /// 685acdac3a.
    public var resources: LenientList<ClientResource>
    public var relays: LenientList<RelayEntry>

    public init(interface: ClientInterface, resources: [ClientResource], relays: [RelayEntry]) {
        self.interface = interface
        self.resources = LenientList(resources)
        self.relays = LenientList(relays)
    }

    private enum CodingKeys: String, CodingKey {
        case interface, resources, relays
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.interface = try container.decode(ClientInterface.self, forKey: .interface)
        self.resources = try container.decodeLenientList(ClientResource.self, forKey: .resources)
        self.relays = try container.decodeLenientList(RelayEntry.self, forKey: .relays)
    }
}

public struct ConfigChanged: Hashable, Sendable, Codable {
    public var interface: ClientInterface

    public init(interface: ClientInterface) {
        self.interface = interface
    }
}

/// `create_flow`: the client wants to reach a resource. `connected_gateway_ids` lists the gateways it already
/// has connections to, so that the portal can reuse one.
public struct CreateFlow: Hashable, Sendable, Codable {
    public var resourceID: ResourceID
    public var connectedGatewayIDs: [GatewayID]

    public init(resourceID: ResourceID, connectedGatewayIDs: [GatewayID]) {
        self.resourceID = resourceID
        self.connectedGatewayIDs = connectedGatewayIDs
    }

    private enum CodingKeys: String, CodingKey {
        case resourceID = "resource_id"
        case connectedGatewayIDs = "connected_gateway_ids"
    }
}

/// `flow_created`: a gateway authorized the flow; everything the client needs to connect to it.
public struct FlowCreated: Hashable, Sendable, Codable {
    public var resourceID: ResourceID
    public var gatewayID: GatewayID
    public var siteID: SiteID
    public var gatewayPublicKey: PublicKey
    public var gatewayIPv4: IPv4Address
    public var gatewayIPv6: IPv6Address
    public var presharedKey: PresharedKey
    public var clientIceCredentials: IceCredentials
    public var gatewayIceCredentials: IceCredentials

    public init(
        resourceID: ResourceID,
        gatewayID: GatewayID,
        siteID: SiteID,
        gatewayPublicKey: PublicKey,
        gatewayIPv4: IPv4Address,
        gatewayIPv6: IPv6Address,
        presharedKey: PresharedKey,
        clientIceCredentials: IceCredentials,
        gatewayIceCredentials: IceCredentials
    ) {
        self.resourceID = resourceID
        self.gatewayID = gatewayID
        self.siteID = siteID
        self.gatewayPublicKey = gatewayPublicKey
        self.gatewayIPv4 = gatewayIPv4
        self.gatewayIPv6 = gatewayIPv6
        self.presharedKey = presharedKey
        self.clientIceCredentials = clientIceCredentials
        self.gatewayIceCredentials = gatewayIceCredentials
    }

    private enum CodingKeys: String, CodingKey {
        case resourceID = "resource_id"
        case gatewayID = "gateway_id"
        case siteID = "gateway_group_id"
        case gatewayPublicKey = "gateway_public_key"
        case gatewayIPv4 = "gateway_ipv4"
        case gatewayIPv6 = "gateway_ipv6"
        case presharedKey = "preshared_key"
        case clientIceCredentials = "client_ice_credentials"
        case gatewayIceCredentials = "gateway_ice_credentials"
    }
}

/// `flow_creation_failed`.
public struct FlowCreationFailed: Hashable, Sendable, Codable {
    public var resourceID: ResourceID
    public var reason: FlowFailureReason
    /// With `forbidden`: which policy conditions failed (`remote_ip_location_region`, `client_verified`, …).
    public var violatedProperties: [String]?

    public init(resourceID: ResourceID, reason: FlowFailureReason, violatedProperties: [String]? = nil) {
        self.resourceID = resourceID
        self.reason = reason
        self.violatedProperties = violatedProperties
    }

    private enum CodingKeys: String, CodingKey {
        case resourceID = "resource_id"
        case reason
        case violatedProperties = "violated_properties"
    }
}

/// Why a flow was not created. Reasons connlib does not know are kept verbatim (the `foobar` fixture).
public enum FlowFailureReason: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The resource does not exist or the client may not see it.
    case notFound
    /// A policy condition failed.
    case forbidden
    /// No gateway of the resource's sites is online.
    case offline
    case other(String)

    public init(rawValue: String) {
        switch rawValue {
        case "not_found": self = .notFound
        case "forbidden": self = .forbidden
        case "offline": self = .offline
        default: self = .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .notFound: "not_found"
        case .forbidden: "forbidden"
        case .offline: "offline"
        case .other(let text): text
        }
    }

    public var description: String {
        self.rawValue
    }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rawValue)
    }
}

/// `ice_candidates` / `invalidate_ice_candidates` to a client: candidates of one gateway.
public struct GatewayIceCandidates: Hashable, Sendable, Codable {
    public var gatewayID: GatewayID
    /// SDP candidate lines (`candidate:… typ srflx raddr 0.0.0.0 rport 0`), parsed by the ICE agent.
    public var candidates: [String]

    public init(gatewayID: GatewayID, candidates: [String]) {
        self.gatewayID = gatewayID
        self.candidates = candidates
    }

    private enum CodingKeys: String, CodingKey {
        case gatewayID = "gateway_id"
        case candidates
    }
}

/// `broadcast_ice_candidates` / `broadcast_invalidated_ice_candidates` from a client: candidates for gateways.
public struct GatewaysIceCandidates: Hashable, Sendable, Codable {
    public var gatewayIDs: [GatewayID]
    public var candidates: [String]

    public init(gatewayIDs: [GatewayID], candidates: [String]) {
        self.gatewayIDs = gatewayIDs
        self.candidates = candidates
    }

    private enum CodingKeys: String, CodingKey {
        case gatewayIDs = "gateway_ids"
        case candidates
    }
}
