import ConnlibCore
import IPPacket
import PortalMessages

/// The fixed world the tunnel's reference-model sequences play in: two sites with one gateway each, a catalogue of
/// resources that steps add, change and remove by slot, the addresses and names that probes and DNS queries pick
/// from, and what the public DNS answers for those names.
///
/// A fixed catalogue keeps every drawn step valid whatever the state (a step names a slot, never an ID that may not
/// exist) and makes shrunk sequences readable: `.upsert(slot: 4, …)` is always the `app.corp.test` resource.
enum TunnelWorld {
    struct Slot {
        let id: ResourceID
        let address: Address
        /// A DNS resource's `ip_stack` as the portal sends it: `nil` (dual), `ipv4_only` or `ipv6_only`.
        var ipStack: String? = nil
    }

    enum Address: Equatable {
        case cidr(IPNetwork)
        case dns(DomainPattern)
        case internet
    }

    static let sites = [Site(id: SiteID("site-a"), name: "a"), Site(id: SiteID("site-b"), name: "b")]
    /// One gateway per site: `gateways[i]` serves `sites[i]`.
    static let gateways = [GatewayID("gateway-a"), GatewayID("gateway-b")]

    static let clientIPv4 = IPv4Address(100, 64, 0, 1)
    static let clientIPv6 = IPv6Address("fd00:2021:1111::1")!

    static let slots: [Slot] = [
        Slot(id: ResourceID("cidr-10-0-0"), address: .cidr(IPNetwork("10.0.0.0/24")!)),
        Slot(id: ResourceID("cidr-10-0"), address: .cidr(IPNetwork("10.0.0.0/16")!)),
        Slot(id: ResourceID("cidr-v6"), address: .cidr(IPNetwork("fd00:10::/64")!)),
        Slot(id: ResourceID("cidr-192"), address: .cidr(IPNetwork("192.168.50.0/24")!)),
        Slot(id: ResourceID("dns-app"), address: .dns(try! DomainPattern("app.corp.test"))),
        Slot(id: ResourceID("dns-corp"), address: .dns(try! DomainPattern("*.corp.test"))),
        Slot(id: ResourceID("dns-svc"), address: .dns(try! DomainPattern("**.svc.test"))),
        Slot(id: ResourceID("dns-db"), address: .dns(try! DomainPattern("db?.corp.test"))),
        Slot(id: ResourceID("internet"), address: .internet),
        Slot(id: ResourceID("dns-web-v4"), address: .dns(try! DomainPattern("web.corp.test")), ipStack: "ipv4_only"),
        Slot(id: ResourceID("dns-svc-v6"), address: .dns(try! DomainPattern("svc.test")), ipStack: "ipv6_only"),
    ]

    /// Filter sets a resource can have; index 0 is "no filters" (everything passes).
    static let filterSets: [[Filter]] = [
        [],
        [.tcp(ports: 80...80)],
        [.udp(ports: 50...60)],
        [.icmp],
        [.tcp(ports: 443...443), .icmp],
        [.udp(ports: nil), .tcp(ports: nil)],
    ]

    /// Addresses probes go to by IP: inside one or both CIDR resources, inside none (reachable only through the
    /// Internet resource), and private addresses the Internet resource refuses.
    static let targets: [IPAddress] = [
        IPAddress("10.0.0.5")!,
        IPAddress("10.0.9.7")!,
        IPAddress("fd00:10::5")!,
        IPAddress("192.168.50.9")!,
        IPAddress("8.8.4.4")!,
        IPAddress("172.16.0.1")!,
        IPAddress("2606:4700::1111")!,
    ]

    /// Names queried and probed, and what the public DNS (the gateways' resolvers and the client's upstream) has for
    /// each: `nil` is NXDOMAIN.
    static let names: [(name: DomainName, records: [IPAddress]?)] = [
        (try! DomainName("app.corp.test"), [IPAddress("10.20.0.1")!, IPAddress("fd00:20::1")!]),
        (try! DomainName("web.corp.test"), [IPAddress("10.20.0.2")!]),
        (try! DomainName("db1.corp.test"), [IPAddress("10.20.0.3")!, IPAddress("fd00:20::3")!]),
        (try! DomainName("a.b.svc.test"), [IPAddress("10.20.0.4")!]),
        (try! DomainName("svc.test"), [IPAddress("10.20.0.5")!, IPAddress("fd00:20::5")!]),
        (try! DomainName("gone.corp.test"), nil),
        (try! DomainName("example.org"), [IPAddress("93.184.215.14")!, IPAddress("2606:2800:21f::1")!]),
        (try! DomainName("nothing.invalid"), nil),
    ]

    /// The resolver the client recurses to for names that are no resource: a system resolver, so that the query goes
    /// straight to it and never through the tunnel (rust/connlib/tunnel/src/client.rs tunnels only the portal's
    /// upstreams).
    static let upstreamDNS = IPSocketAddress(IPAddress("198.51.100.53")!, port: 53)

    /// The resolver the portal may configure (`upstream_dns`): inside the CIDR resources of slots 0 and 1, so that
    /// while one of them (or the Internet resource) is active the client recurses to it through the tunnel. The
    /// resource host behind it answers as the public DNS does.
    static let tunnelledDNS = IPSocketAddress(IPAddress("10.0.0.53")!, port: 53)

    static func records(of name: DomainName, _ version: IPVersion) -> [IPAddress]? {
        guard let entry = Self.names.first(where: { $0.name == name }) else {
            return nil
        }
        return entry.records.map { $0.filter { $0.version == version } }
    }

    /// The SRV or TXT record a site's DNS server has for a name, as ``TunnelObservation/Answer/records(_:)``
    /// shows it; nil (NXDOMAIN) for a name the public DNS does not know. Each site answers differently, so that an
    /// answer tells which gateway resolved it.
    static func siteRecord(of name: DomainName, _ type: DNSRecordType, gateway: Int) -> String? {
        guard Self.records(of: name, .v4) != nil else {
            return nil
        }
        return type == .txt ? "TXT site=\(Self.sites[gateway].name)" : "SRV 0 0 \(5060 + gateway) \(name)"
    }

    static func clientIP(_ version: IPVersion) -> IPAddress {
        switch version {
        case .v4: .v4(Self.clientIPv4)
        case .v6: .v6(Self.clientIPv6)
        }
    }

    /// The resource of `slot` as the portal lists it to the client.
    static func resource(slot: Int, sites: [Site], filters: [Filter]) -> ClientResource {
        let slot = Self.slots[slot]
        switch slot.address {
        case .cidr(let network):
            return .cidr(
                CIDRResource(
                    id: slot.id,
                    address: network,
                    name: slot.id.rawValue,
                    addressDescription: nil,
                    sites: sites,
                    filters: filters
                )
            )
        case .dns(let pattern):
            return .dns(
                DNSResource(
                    id: slot.id,
                    address: pattern.text,
                    name: slot.id.rawValue,
                    addressDescription: nil,
                    sites: sites,
                    ipStack: slot.ipStack,
                    filters: filters
                )
            )
        case .internet:
            return .internet(InternetResource(id: slot.id, name: "Internet", sites: sites, canBeDisabled: true))
        }
    }
}
