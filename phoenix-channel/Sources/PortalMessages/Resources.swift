import IPPacket

/// A resource as a client sees it (`init`, `resource_created_or_updated`). The portal also sends `filters`;
/// clients ignore them (the gateway enforces), so they are not read here.
public enum ClientResource: Hashable, Sendable, Codable {
    case dns(DNSResource)
    case cidr(CIDRResource)
    case internet(InternetResource)

    public var id: ResourceID {
        switch self {
        case .dns(let resource): resource.id
        case .cidr(let resource): resource.id
        case .internet(let resource): resource.id
        }
    }

    public var sites: [Site] {
        switch self {
        case .dns(let resource): resource.sites
        case .cidr(let resource): resource.sites
        case .internet(let resource): resource.sites
        }
    }

    private enum TypeKey: String, CodingKey {
        case type
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: TypeKey.self)
        switch try container.decode(String.self, forKey: .type) {
        case "dns": self = .dns(try DNSResource(from: decoder))
        case "cidr": self = .cidr(try CIDRResource(from: decoder))
        case "internet": self = .internet(try InternetResource(from: decoder))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type,
                in: container,
                debugDescription: "unknown resource type"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: TypeKey.self)
        switch self {
        case .dns(let resource):
            try container.encode("dns", forKey: .type)
            try resource.encode(to: encoder)
        case .cidr(let resource):
            try container.encode("cidr", forKey: .type)
            try resource.encode(to: encoder)
        case .internet(let resource):
            try container.encode("internet", forKey: .type)
            try resource.encode(to: encoder)
        }
    }
}

/// A DNS resource: a domain pattern (`gitlab.corp`, `*.corp`, `**.corp`, `?.corp`) resolved through the tunnel.
public struct DNSResource: Hashable, Sendable, Codable {
    public var id: ResourceID
    public var address: String
    public var name: String
    public var addressDescription: String?
    public var sites: [Site]
    /// `dual`, `ipv4_only` or `ipv6_only`; absent means dual.
    public var ipStack: String?
    /// What the resource allows (empty: everything). Firezone 685acdac3a's portal sends them and its client ignores
    /// them; ours filters with them as the gateway does, as Firezone's later clients do (rust/connlib/tunnel/src/client.rs).
    public var filters: [Filter]

    public init(
        id: ResourceID,
        address: String,
        name: String,
        addressDescription: String?,
        sites: [Site],
        ipStack: String?,
        filters: [Filter] = []
    ) {
        self.id = id
        self.address = address
        self.name = name
        self.addressDescription = addressDescription
        self.sites = sites
        self.ipStack = ipStack
        self.filters = filters
    }

    public init(from decoder: any Decoder) throws {
        let fields = try AddressedResourceFields<String>(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: fields.id,
            address: fields.address,
            name: fields.name,
            addressDescription: fields.addressDescription,
            sites: fields.sites,
            ipStack: try container.decodeIfPresent(String.self, forKey: .ipStack),
            filters: fields.filters
        )
    }

    public func encode(to encoder: any Encoder) throws {
        try AddressedResourceFields(
            id: self.id,
            address: self.address,
            name: self.name,
            addressDescription: self.addressDescription,
            sites: self.sites,
            filters: self.filters
        ).encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(self.ipStack, forKey: .ipStack)
    }

    /// The key only a DNS resource has; the others are ``AddressedResourceFields``'.
    private enum CodingKeys: String, CodingKey {
        case ipStack = "ip_stack"
    }
}

public struct CIDRResource: Hashable, Sendable, Codable {
    public var id: ResourceID
    public var address: IPNetwork
    public var name: String
    public var addressDescription: String?
    public var sites: [Site]
    /// What the resource allows (empty: everything); see ``DNSResource/filters``.
    public var filters: [Filter]

    public init(
        id: ResourceID,
        address: IPNetwork,
        name: String,
        addressDescription: String?,
        sites: [Site],
        filters: [Filter] = []
    ) {
        self.id = id
        self.address = address
        self.name = name
        self.addressDescription = addressDescription
        self.sites = sites
        self.filters = filters
    }

    public init(from decoder: any Decoder) throws {
        let fields = try AddressedResourceFields<IPNetwork>(from: decoder)
        self.init(
            id: fields.id,
            address: fields.address,
            name: fields.name,
            addressDescription: fields.addressDescription,
            sites: fields.sites,
            filters: fields.filters
        )
    }

    public func encode(to encoder: any Encoder) throws {
        try AddressedResourceFields(
            id: self.id,
            address: self.address,
            name: self.name,
            addressDescription: self.addressDescription,
            sites: self.sites,
            filters: self.filters
        ).encode(to: encoder)
    }
}

/// The Internet resource: every address not covered by another resource.
public struct InternetResource: Hashable, Sendable, Codable {
    public var id: ResourceID
    /// Firezone's portal sends none; connlib then shows "Internet Resource".
    public var name: String?
    public var sites: [Site]
    public var canBeDisabled: Bool?

    public init(id: ResourceID, name: String?, sites: [Site], canBeDisabled: Bool?) {
        self.id = id
        self.name = name
        self.sites = sites
        self.canBeDisabled = canBeDisabled
    }

    private enum CodingKeys: String, CodingKey {
        case id, name
        case sites = "gateway_groups"
        case canBeDisabled = "can_be_disabled"
    }
}

/// A resource as a gateway sees it (`authorize_flow`, `resource_updated`): what to allow, not how to route.
public enum GatewayResource: Hashable, Sendable, Codable {
    case dns(id: ResourceID, address: String, name: String, filters: [Filter])
    case cidr(id: ResourceID, address: IPNetwork, name: String, filters: [Filter])
    case internet(id: ResourceID)

    public var id: ResourceID {
        switch self {
        case .dns(let id, _, _, _), .cidr(let id, _, _, _), .internet(let id): id
        }
    }

    private enum CodingKeys: String, CodingKey {
        case id, type, address, name, filters
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let id = try container.decode(ResourceID.self, forKey: .id)
        switch try container.decode(String.self, forKey: .type) {
        case "dns":
            let (address, name, filters) = try Self.decodeAddressed(String.self, from: container)
            self = .dns(id: id, address: address, name: name, filters: filters)
        case "cidr":
            let (address, name, filters) = try Self.decodeAddressed(IPNetwork.self, from: container)
            self = .cidr(id: id, address: address, name: name, filters: filters)
        case "internet":
            self = .internet(id: id)
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type,
                in: container,
                debugDescription: "unknown resource type"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .dns(let id, let address, let name, let filters):
            try Self.encodeAddressed(id, "dns", address, name, filters, into: &container)
        case .cidr(let id, let address, let name, let filters):
            try Self.encodeAddressed(id, "cidr", address, name, filters, into: &container)
        case .internet(let id):
            try container.encode(id, forKey: .id)
            try container.encode("internet", forKey: .type)
        }
    }

    /// The fields a DNS and a CIDR resource share; a gateway's resource may come without `filters`.
    private static func decodeAddressed<Address: Decodable>(
        _ type: Address.Type,
        from container: KeyedDecodingContainer<CodingKeys>
    ) throws -> (address: Address, name: String, filters: [Filter]) {
        (
            try container.decode(Address.self, forKey: .address),
            try container.decode(String.self, forKey: .name),
            try container.decodeIfPresent([Filter].self, forKey: .filters) ?? []
        )
    }

    /// Writes `filters` even when there are none, unlike a client's resource.
    private static func encodeAddressed(
        _ id: ResourceID,
        _ type: String,
        _ address: some Encodable,
        _ name: String,
        _ filters: [Filter],
        into container: inout KeyedEncodingContainer<CodingKeys>
    ) throws {
        try container.encode(id, forKey: .id)
        try container.encode(type, forKey: .type)
        try container.encode(address, forKey: .address)
        try container.encode(name, forKey: .name)
        try container.encode(filters, forKey: .filters)
    }
}
