import FoundationEssentials
import IPPacket
import PortalMessages

/// The local portal's whole world, read from one JSON file: the account's resources, sites and their gateways,
/// clients, groups and policies, relays, and the tokens each of them signs in with.
///
/// ```json
/// {
///   "account_slug": "local",
///   "tunnel": {"ipv4": "100.64.0.0/11", "ipv6": "fd00:2021:1111::/107"},
///   "upstream_dns": ["1.1.1.1:53"],
///   "search_domain": "corp.example",
///   "sites": [{"id": "site-a", "name": "Site A"}],
///   "gateways": [{"id": "gw-1", "name": "gw-1", "site_id": "site-a", "token": "gateway-token"}],
///   "resources": [{"id": "res-1", "type": "cidr", "address": "10.0.0.0/24", "name": "LAN", "site_ids": ["site-a"],
///                  "filters": [{"protocol": "tcp", "port_range_start": 80, "port_range_end": 80}]}],
///   "groups": [{"id": "everyone", "name": "Everyone"}],
///   "clients": [{"id": "client-1", "name": "laptop", "token": "client-token", "group_ids": ["everyone"]}],
///   "policies": [{"group_id": "everyone", "resource_id": "res-1"}],
///   "relays": [{"id": "relay-1", "token": "relay-token"}],
///   "turn_servers": [{"id": "6f1d0a52-3c1e-4b7a-9d2f-0e8c5b4a3f21", "address": "198.51.100.7:3478",
///                     "username": "firezone", "password": "secret"}],
///   "flow_lifetime": 3600
/// }
/// ```
/// Tunnel addresses are handed out in file order (clients, then gateways) unless an entry names its own; gateways
/// that sign in with a site token get the next free ones, in the order they first join.
/// A policy may carry `"remote_ip": ["127.0.0.0/8"]`: clients connecting from elsewhere are `forbidden`.
///
/// A site may carry a `"token"`: any number of gateways sign in with it, each told apart by the `external_id` it
/// connects with (as Firezone's portal upserts a site's gateways by `external_id`). Such a gateway's id is a UUID
/// derived from the site id and its `external_id`, so it stays the same across restarts of gateway and portal.
///
/// A flow lasts `flow_lifetime` seconds (the policy's own, else the file's), never beyond the client's token; without
/// either it lasts as long as the token. When it ends the gateway is told `reject_access`, or
/// `access_authorization_expiry_updated` when another flow still authorizes the pair.
///
/// A client, gateway or site may carry `"relay_ids"`: the relays (and TURN servers) its devices are given in `init`
/// and `relays_presence`, as Firezone's portal gives each device the relays nearest to it rather than all of them. A
/// gateway without its own takes its site's; absent everywhere, every relay. Each side sampling its connection's relay
/// from a set of its own is what makes the client and the gateway allocate on different relays.
///
/// `turn_servers` are TURN servers that are not Firezone relays (coturn, for instance): clients and gateways get them
/// in `init` like relays, with the static `username` and `password` of the file. Their `address` is an IP socket
/// address or a list of them (one per address family); the `id` should be a UUID, as connlib reads relay ids as UUIDs.
/// The server's realm must be `firezone`: connlib's TURN client signs with that realm for every relay and refuses
/// another (rust/connlib/snownet/src/allocation.rs); with coturn, `realm=firezone` and a static `user=`.
public struct PortalConfiguration: Hashable, Sendable, Codable {
    public var accountSlug: String
    public var tunnel: TunnelRanges
    public var upstreamDNS: [IPSocketAddress]
    public var searchDomain: String?
    public var sites: [SiteEntry]
    public var gateways: [GatewayEntry]
    public var resources: [ResourceEntry]
    public var groups: [GroupEntry]
    public var clients: [ClientEntry]
    public var policies: [PolicyEntry]
    public var relays: [RelayEntry]
    public var turnServers: [TURNServerEntry]
    /// Seconds a flow lasts unless its policy says otherwise; nil: as long as the client's token.
    public var flowLifetime: UInt64?

    public struct TunnelRanges: Hashable, Sendable, Codable {
        public var ipv4: IPNetwork
        public var ipv6: IPNetwork

        /// Firezone's tunnel ranges (`IPV4_TUNNEL`, `IPV6_TUNNEL` in rust/connlib/tunnel/src/lib.rs).
        public static let firezone = TunnelRanges(
            ipv4: IPNetwork("100.64.0.0/11")!,
            ipv6: IPNetwork("fd00:2021:1111::/107")!
        )
    }

    public struct SiteEntry: Hashable, Sendable, Codable {
        public var id: SiteID
        public var name: String
        /// The token every gateway of the site may sign in with, each under its own `external_id`.
        public var token: String?
        /// The relays the site's gateways are given, unless a gateway entry names its own; nil: every relay.
        public var relayIDs: [RelayID]?

        enum CodingKeys: String, CodingKey {
            case id, name, token
            case relayIDs = "relay_ids"
        }
    }

    public struct GatewayEntry: Hashable, Sendable, Codable {
        public var id: GatewayID
        public var name: String
        public var siteID: SiteID
        public var token: String
        public var ipv4: IPv4Address?
        public var ipv6: IPv6Address?
        /// The relays this gateway is given; nil: its site's.
        public var relayIDs: [RelayID]?

        enum CodingKeys: String, CodingKey {
            case id, name, token, ipv4, ipv6
            case siteID = "site_id"
            case relayIDs = "relay_ids"
        }
    }

    public struct ResourceEntry: Hashable, Sendable, Codable {
        public var id: ResourceID
        /// `cidr`, `dns` or `internet`.
        public var type: String
        /// A network for `cidr`, a domain pattern for `dns` (`*.corp`, `**.corp`, `?.corp`); none for `internet`.
        public var address: String?
        public var name: String?
        public var addressDescription: String?
        public var siteIDs: [SiteID]
        public var filters: [Filter]?

        enum CodingKeys: String, CodingKey {
            case id, type, address, name, filters
            case addressDescription = "address_description"
            case siteIDs = "site_ids"
        }
    }

    public struct GroupEntry: Hashable, Sendable, Codable {
        public var id: String
        public var name: String
    }

    public struct ClientEntry: Hashable, Sendable, Codable {
        public var id: ClientID
        public var name: String
        public var token: String
        public var groupIDs: [String]
        /// Unix seconds; the client's relay credentials and authorizations expire with it. Default: a week after
        /// the portal started.
        public var tokenExpiresAt: UInt64?
        public var ipv4: IPv4Address?
        public var ipv6: IPv6Address?
        /// The relays this client is given; nil: every relay.
        public var relayIDs: [RelayID]?

        enum CodingKeys: String, CodingKey {
            case id, name, token, ipv4, ipv6
            case groupIDs = "group_ids"
            case relayIDs = "relay_ids"
            case tokenExpiresAt = "token_expires_at"
        }
    }

    public struct PolicyEntry: Hashable, Sendable, Codable {
        public var groupID: String
        public var resourceID: ResourceID
        /// The networks a client must connect from; nil allows any.
        public var remoteIP: [IPNetwork]?
        /// Seconds a flow this policy authorizes lasts; nil: the file's `flow_lifetime`.
        public var flowLifetime: UInt64?

        enum CodingKeys: String, CodingKey {
            case groupID = "group_id"
            case resourceID = "resource_id"
            case remoteIP = "remote_ip"
            case flowLifetime = "flow_lifetime"
        }
    }

    public struct RelayEntry: Hashable, Sendable, Codable {
        public var id: RelayID
        public var name: String?
        public var token: String
    }

    /// A standard TURN server with fixed credentials (RFC 8656 long-term credentials), handed out as a `turn` relay
    /// entry (`{"id","type":"turn","addr","username","password","expires_at"}`, as Firezone 685acdac3a's portal sends
    /// relays).
    public struct TURNServerEntry: Hashable, Sendable, Codable {
        public var id: RelayID
        public var addresses: [IPSocketAddress]
        public var username: String
        /// Never logged.
        public var password: String

        enum CodingKeys: String, CodingKey {
            case id, username, password
            case addresses = "address"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.id = try container.decode(RelayID.self, forKey: .id)
            if let one = try? container.decode(IPSocketAddress.self, forKey: .addresses) {
                self.addresses = [one]
            } else {
                self.addresses = try container.decode([IPSocketAddress].self, forKey: .addresses)
            }
            self.username = try container.decode(String.self, forKey: .username)
            self.password = try container.decode(String.self, forKey: .password)
        }
    }

    enum CodingKeys: String, CodingKey {
        case accountSlug = "account_slug"
        case tunnel
        case upstreamDNS = "upstream_dns"
        case searchDomain = "search_domain"
        case sites, gateways, resources, groups, clients, policies, relays
        case turnServers = "turn_servers"
        case flowLifetime = "flow_lifetime"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.accountSlug = try container.decodeIfPresent(String.self, forKey: .accountSlug) ?? "local"
        self.tunnel = try container.decodeIfPresent(TunnelRanges.self, forKey: .tunnel) ?? .firezone
        self.upstreamDNS = try container.decodeIfPresent([IPSocketAddress].self, forKey: .upstreamDNS) ?? []
        self.searchDomain = try container.decodeIfPresent(String.self, forKey: .searchDomain)
        self.sites = try container.decodeIfPresent([SiteEntry].self, forKey: .sites) ?? []
        self.gateways = try container.decodeIfPresent([GatewayEntry].self, forKey: .gateways) ?? []
        self.resources = try container.decodeIfPresent([ResourceEntry].self, forKey: .resources) ?? []
        self.groups = try container.decodeIfPresent([GroupEntry].self, forKey: .groups) ?? []
        self.clients = try container.decodeIfPresent([ClientEntry].self, forKey: .clients) ?? []
        self.policies = try container.decodeIfPresent([PolicyEntry].self, forKey: .policies) ?? []
        self.relays = try container.decodeIfPresent([RelayEntry].self, forKey: .relays) ?? []
        self.turnServers = try container.decodeIfPresent([TURNServerEntry].self, forKey: .turnServers) ?? []
        self.flowLifetime = try container.decodeIfPresent(UInt64.self, forKey: .flowLifetime)
    }

    /// Reads and checks a configuration; the error names the file and what is wrong.
    public static func load(path: String) throws(PortalConfigurationError) -> PortalConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PortalConfigurationError("cannot read \(path): \(error)")
        }
        return try Self.parse(text, source: path)
    }

    public static func parse(
        _ text: String,
        source: String = "configuration"
    ) throws(PortalConfigurationError) -> PortalConfiguration {
        let configuration: PortalConfiguration
        do {
            configuration = try PortalCodec.decodeJSON(PortalConfiguration.self, from: text)
        } catch {
            throw PortalConfigurationError("\(source): \(error.detail)")
        }
        try configuration.validate(source: source)
        return configuration
    }

    /// Every reference resolves, every id and token is unique, every resource is well-formed.
    public func validate(source: String = "configuration") throws(PortalConfigurationError) {
        func fail(_ message: String) -> PortalConfigurationError {
            PortalConfigurationError("\(source): \(message)")
        }
        func unique<T: Hashable>(_ values: [T], _ what: String) throws(PortalConfigurationError) {
            var seen = Set<T>()
            for value in values where !seen.insert(value).inserted {
                throw fail("duplicate \(what) '\(value)'")
            }
        }
        try unique(self.sites.map(\.id), "site id")
        try unique(self.gateways.map(\.id), "gateway id")
        try unique(self.resources.map(\.id), "resource id")
        try unique(self.groups.map(\.id), "group id")
        try unique(self.clients.map(\.id), "client id")
        try unique(self.relays.map(\.id) + self.turnServers.map(\.id), "relay or TURN server id")
        let tokens =
            self.gateways.map(\.token) + self.sites.compactMap(\.token) + self.clients.map(\.token)
            + self.relays.map(\.token)
        if tokens.contains(where: \.isEmpty) {
            throw fail("a token is empty")
        }
        try unique(tokens, "token")
        let sites = Set(self.sites.map(\.id))
        let groups = Set(self.groups.map(\.id))
        let resources = Set(self.resources.map(\.id))
        for gateway in self.gateways where !sites.contains(gateway.siteID) {
            throw fail("gateway '\(gateway.id)' names the unknown site '\(gateway.siteID)'")
        }
        for client in self.clients {
            for group in client.groupIDs where !groups.contains(group) {
                throw fail("client '\(client.id)' names the unknown group '\(group)'")
            }
        }
        let relays = Set(self.relays.map(\.id) + self.turnServers.map(\.id))
        let relaySets =
            self.clients.map { ("client '\($0.id)'", $0.relayIDs) }
            + self.gateways.map { ("gateway '\($0.id)'", $0.relayIDs) }
            + self.sites.map { ("site '\($0.id)'", $0.relayIDs) }
        for (owner, ids) in relaySets {
            for id in ids ?? [] where !relays.contains(id) {
                throw fail("\(owner) names the unknown relay '\(id)'")
            }
        }
        for policy in self.policies {
            if !groups.contains(policy.groupID) {
                throw fail("a policy names the unknown group '\(policy.groupID)'")
            }
            if !resources.contains(policy.resourceID) {
                throw fail("a policy names the unknown resource '\(policy.resourceID)'")
            }
        }
        for server in self.turnServers {
            if server.username.isEmpty || server.password.isEmpty {
                throw fail("TURN server '\(server.id)': username and password must not be empty")
            }
            let families = server.addresses.map(\.address.version)
            if families.isEmpty || Set(families).count != families.count {
                throw fail("TURN server '\(server.id)': give one address, or one per address family")
            }
        }
        let century: UInt64 = 100 * 365 * 86_400
        for lifetime in [self.flowLifetime] + self.policies.map(\.flowLifetime) {
            if let lifetime, lifetime == 0 || lifetime > century {
                throw fail("a flow_lifetime must be between one second and a century")
            }
        }
        for resource in self.resources {
            do {
                _ = try ResourceEntry.check(resource, sites: sites)
            } catch {
                throw fail(error.description)
            }
        }
        if self.tunnel.ipv4.address.version != .v4 || self.tunnel.ipv6.address.version != .v6 {
            throw fail("the tunnel ranges must be an IPv4 and an IPv6 network")
        }
        if UInt64(self.clients.count + self.gateways.count) + 1 >= min(self.tunnel.ipv4.size, self.tunnel.ipv6.size) {
            throw fail("the tunnel ranges are too small for every client and gateway")
        }
    }
}

extension PortalConfiguration.ResourceEntry {
    /// The resource as clients see it.
    func clientResource(sites: [Site]) -> ClientResource {
        let name = self.name ?? self.address ?? "Internet Resource"
        switch self.type {
        case "cidr":
            return .cidr(
                CIDRResource(
                    id: self.id,
                    address: IPNetwork(self.address!)!,
                    name: name,
                    addressDescription: self.addressDescription,
                    sites: sites
                )
            )
        case "dns":
            return .dns(
                DNSResource(
                    id: self.id,
                    address: self.address!,
                    name: name,
                    addressDescription: self.addressDescription,
                    sites: sites,
                    ipStack: nil
                )
            )
        default:
            return .internet(InternetResource(id: self.id, name: nil, sites: sites, canBeDisabled: true))
        }
    }

    /// The resource as gateways see it.
    var gatewayResource: GatewayResource {
        let name = self.name ?? self.address ?? ""
        switch self.type {
        case "cidr":
            return .cidr(id: self.id, address: IPNetwork(self.address!)!, name: name, filters: self.filters ?? [])
        case "dns": return .dns(id: self.id, address: self.address!, name: name, filters: self.filters ?? [])
        default: return .internet(id: self.id)
        }
    }

    /// Checks a resource (from the file or the admin API) against the known sites.
    static func check(_ resource: Self, sites: Set<SiteID>) throws(PortalConfigurationError) -> Self {
        switch resource.type {
        case "cidr":
            guard let address = resource.address, IPNetwork(address) != nil else {
                throw PortalConfigurationError(
                    "resource '\(resource.id)': a cidr resource needs an address like 10.0.0.0/24 (host bits zero)"
                )
            }
        case "dns":
            guard let address = resource.address, !address.isEmpty, !address.contains(" ") else {
                throw PortalConfigurationError(
                    "resource '\(resource.id)': a dns resource needs a domain pattern as its address"
                )
            }
        case "internet":
            break
        default:
            throw PortalConfigurationError(
                "resource '\(resource.id)': unknown type '\(resource.type)' (cidr, dns or internet)"
            )
        }
        if resource.siteIDs.isEmpty {
            throw PortalConfigurationError("resource '\(resource.id)': it needs at least one site")
        }
        for site in resource.siteIDs where !sites.contains(site) {
            throw PortalConfigurationError("resource '\(resource.id)' names the unknown site '\(site)'")
        }
        return resource
    }
}

public struct PortalConfigurationError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}
