import ConnlibCore
import IPPacket
import PortalMessages
import Testing

@Suite struct ClientRoutingTableTests {
    static let webOnly = FilterEngine([.tcp(ports: 443...443)])

    static func route(
        _ id: String,
        pattern: String? = nil,
        filter: FilterEngine = .permitAll
    ) throws -> ClientRoutingTable.Route {
        ClientRoutingTable.Route(
            resourceID: ResourceID(id),
            pattern: try pattern.map { try DomainPattern($0) },
            filter: filter
        )
    }

    static func address(_ text: String) -> IPAddress {
        IPAddress(text)!
    }

    static func network(_ text: String) -> IPNetwork {
        IPNetwork(text)!
    }

    @Test func theLongerPrefixWinsAmongCIDRResources() throws {
        var table = ClientRoutingTable()
        table.insert(try Self.route("wide"), for: Self.network("10.0.0.0/8"))
        table.insert(try Self.route("narrow"), for: Self.network("10.1.0.0/16"))
        #expect(
            table.lookup(Self.address("10.1.2.3"), transport: .tcp(port: 22))?.route.resourceID.rawValue == "narrow"
        )
        #expect(table.lookup(Self.address("10.2.2.3"), transport: .tcp(port: 22))?.route.resourceID.rawValue == "wide")
    }

    @Test func aProxyAddressIsTakenOnlyByADNSResourceEvenWhenItsFiltersDeny() throws {
        var table = ClientRoutingTable()
        table.insert(try Self.route("internet"), for: Self.network("0.0.0.0/0"))
        table.insert(try Self.route("cgnat"), for: Self.network("100.64.0.0/10"))
        table.insert(
            try Self.route("dns", pattern: "app.corp", filter: Self.webOnly),
            for: Self.network("100.96.0.1/32")
        )
        #expect(table.lookup(Self.address("100.96.0.1"), transport: .tcp(port: 80))?.route.resourceID.rawValue == "dns")
        #expect(table.lookup(Self.address("100.96.0.2"), transport: .tcp(port: 80)) == nil)
        #expect(
            table.lookup(Self.address("8.8.8.8"), transport: .tcp(port: 80))?.route.resourceID.rawValue == "internet"
        )
    }

    @Test func noRouteWhenNoNetworkCoversTheDestination() throws {
        var table = ClientRoutingTable()
        table.insert(try Self.route("wide"), for: Self.network("10.0.0.0/8"))
        #expect(table.lookup(Self.address("192.168.1.1"), transport: nil) == nil)
        #expect(table.lookup(Self.address("fd00::1"), transport: nil) == nil)
    }

    @Test func aRouteWhoseFilterPermitsTheProtocolWinsOverALongerPrefix() throws {
        var table = ClientRoutingTable()
        table.insert(try Self.route("wide"), for: Self.network("10.0.0.0/8"))
        table.insert(try Self.route("narrow-web", filter: Self.webOnly), for: Self.network("10.1.0.0/16"))
        let ssh = table.lookup(Self.address("10.1.2.3"), transport: .tcp(port: 22))
        #expect(ssh?.route.resourceID.rawValue == "wide")
        let web = table.lookup(Self.address("10.1.2.3"), transport: .tcp(port: 443))
        #expect(web?.route.resourceID.rawValue == "narrow-web")
    }

    @Test func aDenyingRouteIsStillChosenWhenNoneOtherCovers() throws {
        var table = ClientRoutingTable()
        table.insert(try Self.route("web", filter: Self.webOnly), for: Self.network("10.1.0.0/16"))
        let lookup = table.lookup(Self.address("10.1.2.3"), transport: .udp(port: 53))
        let match = try #require(lookup)
        #expect(match.route.resourceID.rawValue == "web")
        #expect(!match.route.filter.permits(.udp(port: 53)))
    }

    @Test func theMoreSpecificDomainPatternWinsForAProxyAddress() throws {
        var table = ClientRoutingTable()
        let proxy = Self.network("100.96.0.1/32")
        table.insert(try Self.route("a-wildcard", pattern: "*.corp.example"), for: proxy)
        table.insert(try Self.route("b-exact", pattern: "app.corp.example"), for: proxy)
        #expect(table.lookup(Self.address("100.96.0.1"), transport: nil)?.route.resourceID.rawValue == "b-exact")
    }

    @Test func theSmallerResourceIDBreaksATie() throws {
        var table = ClientRoutingTable()
        table.insert(try Self.route("bbbb"), for: Self.network("10.0.0.0/8"))
        table.insert(try Self.route("aaaa"), for: Self.network("10.0.0.0/8"))
        #expect(table.lookup(Self.address("10.0.0.1"), transport: nil)?.route.resourceID.rawValue == "aaaa")
    }

    @Test func ofTheSamePrefixARouteWithAFlowWinsBeforeTheResourceID() throws {
        var table = ClientRoutingTable()
        table.insert(try Self.route("aaaa"), for: Self.network("10.0.0.0/8"))
        var connected = try Self.route("bbbb")
        connected.hasFlow = true
        table.insert(connected, for: Self.network("10.0.0.0/8"))
        table.insert(try Self.route("cccc"), for: Self.network("10.0.0.0/16"))
        #expect(table.lookup(Self.address("10.1.0.1"), transport: nil)?.route.resourceID.rawValue == "bbbb")
        #expect(table.lookup(Self.address("10.0.0.1"), transport: nil)?.route.resourceID.rawValue == "cccc")
    }

    @Test func aChangeEmptiesTheCacheOfLookups() throws {
        var table = ClientRoutingTable()
        table.insert(try Self.route("wide"), for: Self.network("10.0.0.0/8"))
        #expect(table.lookup(Self.address("10.1.2.3"), transport: nil)?.route.resourceID.rawValue == "wide")
        #expect(table.cachedLookups == 1)
        table.insert(try Self.route("narrow"), for: Self.network("10.1.0.0/16"))
        #expect(table.cachedLookups == 0)
        #expect(table.lookup(Self.address("10.1.2.3"), transport: nil)?.route.resourceID.rawValue == "narrow")
    }

    @Test func theCacheHoldsAtMost1024Lookups() throws {
        var table = ClientRoutingTable()
        table.insert(try Self.route("wide"), for: Self.network("10.0.0.0/8"))
        for host in 0..<2000 {
            _ = table.lookup(.v4(IPv4Address(rawValue: 0x0A00_0000 + UInt32(host))), transport: nil)
        }
        #expect(table.cachedLookups == ClientRoutingTable.cacheCapacity)
        #expect(ClientRoutingTable.cacheCapacity == 1024)
    }

    @Test func theInternetResourceCatchesWhatNothingElseCovers() throws {
        var table = ClientRoutingTable()
        table.insert(try Self.route("internet"), for: Self.network("0.0.0.0/0"))
        table.insert(try Self.route("internet"), for: Self.network("::/0"))
        table.insert(try Self.route("cidr"), for: Self.network("10.0.0.0/8"))
        #expect(table.lookup(Self.address("10.0.0.1"), transport: nil)?.route.resourceID.rawValue == "cidr")
        #expect(table.lookup(Self.address("8.8.8.8"), transport: nil)?.route.resourceID.rawValue == "internet")
        #expect(table.lookup(Self.address("2001:db8::1"), transport: nil)?.route.resourceID.rawValue == "internet")
    }
}
