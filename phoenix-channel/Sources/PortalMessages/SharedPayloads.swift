import IPPacket

/// ICE credentials the portal hands to both ends of a flow: a 4-character ufrag and a 22-character password.
public struct IceCredentials: Hashable, Sendable, Codable, CustomStringConvertible {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    public var description: String {
        "IceCredentials(username: \(self.username), password: <redacted>)"
    }
}

/// A relay as `init` and `relays_presence` list it; one entry per address family of the relay.
public enum RelayEntry: Hashable, Sendable, Codable {
    /// A TURN server with time-limited credentials (Firezone's rust/relay/server/src/auth.rs).
    case turn(TurnRelay)
    /// A STUN-only server entry (`"type": "stun"`); connlib ignores these and uses only TURN entries.
    case stun(id: RelayID, address: IPSocketAddress)

    public var id: RelayID {
        switch self {
        case .turn(let relay): relay.id
        case .stun(let id, _): id
        }
    }

    private enum CodingKeys: String, CodingKey {
        case type, id, addr
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "turn":
            self = .turn(try TurnRelay(from: decoder))
        case "stun":
            self = .stun(
                id: try container.decode(RelayID.self, forKey: .id),
                address: try container.decode(IPSocketAddress.self, forKey: .addr)
            )
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type,
                in: container,
                debugDescription: "unknown relay type"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .turn(let relay):
            try relay.encode(to: encoder)
        case .stun(let id, let address):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode("stun", forKey: .type)
            try container.encode(id, forKey: .id)
            try container.encode(address, forKey: .addr)
        }
    }
}

public struct TurnRelay: Hashable, Sendable, Codable, CustomStringConvertible {
    public var id: RelayID
    public var address: IPSocketAddress
    /// `<expiry>:<salt>` (Firezone's rust/relay/server/src/auth.rs).
    public var username: String
    public var password: String
    /// Unix seconds.
    public var expiresAt: UInt64

    public init(id: RelayID, address: IPSocketAddress, username: String, password: String, expiresAt: UInt64) {
        self.id = id
        self.address = address
        self.username = username
        self.password = password
        self.expiresAt = expiresAt
    }

    private enum CodingKeys: String, CodingKey {
        case type, id, addr, username, password
        case expiresAt = "expires_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decode(RelayID.self, forKey: .id)
        self.address = try container.decode(IPSocketAddress.self, forKey: .addr)
        self.username = try container.decode(String.self, forKey: .username)
        self.password = try container.decode(String.self, forKey: .password)
        self.expiresAt = try container.decode(UInt64.self, forKey: .expiresAt)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode("turn", forKey: .type)
        try container.encode(self.address, forKey: .addr)
        try container.encode(self.username, forKey: .username)
        try container.encode(self.password, forKey: .password)
        try container.encode(self.expiresAt, forKey: .expiresAt)
    }

    public var description: String {
        "TurnRelay(id: \(self.id), address: \(self.address), username: \(self.username), password: <redacted>)"
    }
}

/// `relays_presence`: relays that left and relays that joined since the last `init` or presence update.
public struct RelaysPresence: Hashable, Sendable, Codable {
    public var disconnectedIDs: [RelayID]
    public var connected: LenientList<RelayEntry>

    public init(disconnectedIDs: [RelayID], connected: [RelayEntry]) {
        self.disconnectedIDs = disconnectedIDs
        self.connected = LenientList(connected)
    }

    private enum CodingKeys: String, CodingKey {
        case disconnectedIDs = "disconnected_ids"
        case connected
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.disconnectedIDs = try container.decodeIfPresent([RelayID].self, forKey: .disconnectedIDs) ?? []
        self.connected = try container.decodeLenientList(RelayEntry.self, forKey: .connected)
    }
}

/// A traffic filter of a resource: a protocol, and for TCP and UDP an optional port range. An empty filter list
/// permits everything.
public enum Filter: Hashable, Sendable, Codable {
    /// `nil` ports: every port (the portal then sends the protocol alone).
    case tcp(ports: ClosedRange<UInt16>?)
    case udp(ports: ClosedRange<UInt16>?)
    case icmp

    private enum CodingKeys: String, CodingKey {
        case `protocol`
        case portRangeStart = "port_range_start"
        case portRangeEnd = "port_range_end"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .protocol)
        func ports() throws -> ClosedRange<UInt16>? {
            let start = try container.decodeIfPresent(UInt16.self, forKey: .portRangeStart)
            let end = try container.decodeIfPresent(UInt16.self, forKey: .portRangeEnd)
            if start == nil, end == nil {
                return nil
            }
            // connlib's defaults for a missing bound: 0 and 65535.
            let lower = start ?? 0
            let upper = end ?? .max
            guard lower <= upper else {
                throw DecodingError.dataCorruptedError(
                    forKey: .portRangeEnd,
                    in: container,
                    debugDescription: "port range ends before it starts"
                )
            }
            return lower...upper
        }
        switch name {
        case "tcp": self = .tcp(ports: try ports())
        case "udp": self = .udp(ports: try ports())
        case "icmp": self = .icmp
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .protocol,
                in: container,
                debugDescription: "unknown filter protocol"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let ports: ClosedRange<UInt16>?
        switch self {
        case .tcp(let range):
            try container.encode("tcp", forKey: .protocol)
            ports = range
        case .udp(let range):
            try container.encode("udp", forKey: .protocol)
            ports = range
        case .icmp:
            try container.encode("icmp", forKey: .protocol)
            ports = nil
        }
        if let ports {
            try container.encode(ports.lowerBound, forKey: .portRangeStart)
            try container.encode(ports.upperBound, forKey: .portRangeEnd)
        }
    }
}

/// A site (gateway group) a client resource is served from.
public struct Site: Hashable, Sendable, Codable {
    public var id: SiteID
    public var name: String

    public init(id: SiteID, name: String) {
        self.id = id
        self.name = name
    }
}

/// An upstream DNS server of the client's interface. Firezone 685acdac3a knows one kind: a plain IP and port.
public enum UpstreamDNS: Hashable, Sendable, Codable {
    case ipPort(IPSocketAddress)

    private enum CodingKeys: String, CodingKey {
        case `protocol`, address
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .protocol)
        guard name == "ip_port" else {
            throw DecodingError.dataCorruptedError(
                forKey: .protocol,
                in: container,
                debugDescription: "unknown upstream DNS protocol"
            )
        }
        self = .ipPort(try container.decode(IPSocketAddress.self, forKey: .address))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .ipPort(let address):
            try container.encode("ip_port", forKey: .protocol)
            try container.encode(address, forKey: .address)
        }
    }
}

/// The client's tunnel interface (`init`, `config_changed`).
public struct ClientInterface: Hashable, Sendable, Codable {
    public var ipv4: IPv4Address
    public var ipv6: IPv6Address
    public var upstreamDNS: [UpstreamDNS]
    public var searchDomain: String?

    public init(ipv4: IPv4Address, ipv6: IPv6Address, upstreamDNS: [UpstreamDNS], searchDomain: String?) {
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.upstreamDNS = upstreamDNS
        self.searchDomain = searchDomain
    }

    private enum CodingKeys: String, CodingKey {
        case ipv4, ipv6
        case upstreamDNS = "upstream_dns"
        case searchDomain = "search_domain"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.ipv4 = try container.decode(IPv4Address.self, forKey: .ipv4)
        self.ipv6 = try container.decode(IPv6Address.self, forKey: .ipv6)
        self.upstreamDNS = try container.decodeIfPresent([UpstreamDNS].self, forKey: .upstreamDNS) ?? []
        self.searchDomain = try container.decodeIfPresent(String.self, forKey: .searchDomain)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.ipv4, forKey: .ipv4)
        try container.encode(self.ipv6, forKey: .ipv6)
        try container.encode(self.upstreamDNS, forKey: .upstreamDNS)
        try container.encodeIfPresent(self.searchDomain, forKey: .searchDomain)
    }
}

/// The gateway's tunnel interface (`init`).
public struct GatewayInterface: Hashable, Sendable, Codable {
    public var ipv4: IPv4Address
    public var ipv6: IPv6Address

    public init(ipv4: IPv4Address, ipv6: IPv6Address) {
        self.ipv4 = ipv4
        self.ipv6 = ipv6
    }
}
