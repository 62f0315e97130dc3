import ConnlibCore
import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import PortalMessages
import Testing

@Suite struct ClientOnGatewayTests {
    static let clientV4 = IPv4Address(100, 64, 0, 9)
    static let clientV6 = IPv6Address("fd00:2021:1111::9")!
    static let gatewayInterface = GatewayInterface(
        ipv4: IPv4Address(100, 64, 1, 2),
        ipv6: IPv6Address("fd00:2021:1111::1:2")!
    )
    static let now = Instant.zero
    static let cidr = ResourceID("cidr")
    static let narrow = ResourceID("narrow")
    static let dns = ResourceID("dns")
    static let internet = ResourceID("internet")

    static func client() -> ClientOnGateway {
        ClientOnGateway(
            id: ClientID("c1"),
            ipv4: Self.clientV4,
            ipv6: Self.clientV6,
            gatewayInterface: Self.gatewayInterface,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    static func tcp(from source: IPAddress = .v4(clientV4), to destination: String, port: UInt16) throws -> IPPacket {
        try IPPacket.makeTCP(
            source: source,
            sourcePort: 40000,
            destination: IPAddress(destination)!,
            destinationPort: port,
            sequenceNumber: 1,
            flags: .syn
        )
    }

    static func udp(to destination: String, port: UInt16) throws -> IPPacket {
        try IPPacket.makeUDP(
            source: .v4(clientV4),
            sourcePort: 40000,
            destination: IPAddress(destination)!,
            destinationPort: port,
            payload: ByteBuffer()
        )
    }

    static func reply(from source: String, port: UInt16, to destination: IPAddress = .v4(clientV4)) throws -> IPPacket {
        try IPPacket.makeTCP(
            source: IPAddress(source)!,
            sourcePort: port,
            destination: destination,
            destinationPort: 40000,
            sequenceNumber: 1,
            flags: [.syn, .ack]
        )
    }

    static func forwarded(_ verdict: TranslatedOutbound) -> IPPacket? {
        if case .forward(let packet) = verdict { packet } else { nil }
    }

    static func dropped(_ verdict: TranslatedOutbound) -> GatewayDropReason? {
        switch verdict {
        case .forward: nil
        case .reply(_, let reason), .drop(let reason): reason
        }
    }

    /// The ICMP error a verdict answers with, as [type, code], after checking it goes back to the packet's sender.
    static func answer(_ verdict: TranslatedOutbound, to original: IPPacket) -> [UInt8]? {
        guard case .reply(let error, _) = verdict, let icmp = error.icmp else {
            return nil
        }
        #expect(error.source == original.destination)
        #expect(error.destination == original.source)
        return [icmp.type, icmp.code]
    }

    // MARK: Client → resource

    @Test func clientICMPErrorsAreDroppedWithoutAnswer() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: []),
            expiresAt: nil
        )
        // An error about the client's own packet, turned round as if the client sent it to the resource.
        let error = IPPacket.makeICMPDestinationUnreachable(
            for: try Self.tcp(to: "10.0.0.5", port: 80),
            reason: .networkUnreachable
        )
        let fromClient = try IPPacket(
            Self.rewriteAddresses(error.buffer, source: .v4(Self.clientV4), destination: IPAddress("10.0.0.5")!)
        )
        let verdict = client.translateOutbound(fromClient, now: Self.now)
        #expect(Self.dropped(verdict) == .clientICMPError)
        if case .reply = verdict { Issue.record("answered a client's ICMP error") }
    }

    @Test func spoofedSourceIsDroppedWithoutAnswer() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: []),
            expiresAt: nil
        )
        let verdict = client.translateOutbound(
            try Self.tcp(from: IPAddress("100.64.0.10")!, to: "10.0.0.5", port: 80),
            now: Self.now
        )
        guard case .drop(.spoofedSource) = verdict else {
            Issue.record("not dropped as spoofed: \(verdict)")
            return
        }
    }

    @Test func gatewayTunnelAddressIsReachableWithoutAnyResource() throws {
        var client = Self.client()
        let packet = try Self.tcp(to: "100.64.1.2", port: 53535)
        #expect(Self.forwarded(client.translateOutbound(packet, now: Self.now)) == packet)
        let v6 = try Self.tcp(from: .v6(Self.clientV6), to: "fd00:2021:1111::1:2", port: 53535)
        #expect(Self.forwarded(client.translateOutbound(v6, now: Self.now)) == v6)
    }

    @Test func otherTunnelAddressesAreRefusedEvenWithTheInternetResource() throws {
        var client = Self.client()
        client.allowAccess(to: .internet(id: Self.internet), expiresAt: nil)
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("100.64.0.0/10")!, name: "", filters: []),
            expiresAt: nil
        )
        let verdict = client.translateOutbound(try Self.tcp(to: "100.64.0.10", port: 22), now: Self.now)
        #expect(Self.dropped(verdict) == .clientToClient)
    }

    @Test func unauthorizedDestinationIsAnsweredAdministrativelyProhibited() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: []),
            expiresAt: nil
        )
        let packet = try Self.tcp(to: "192.168.1.1", port: 80)
        let verdict = client.translateOutbound(packet, now: Self.now)
        #expect(Self.dropped(verdict) == .notAuthorized)
        #expect(Self.answer(verdict, to: packet) == [3, 13])
        let v6 = try Self.tcp(from: .v6(Self.clientV6), to: "2001:db8::1", port: 80)
        #expect(Self.answer(client.translateOutbound(v6, now: Self.now), to: v6) == [1, 1])
    }

    @Test func anyAuthorizedResourceCoveringTheDestinationMayPermitIt() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: [.udp(ports: 53...53)]),
            expiresAt: nil
        )
        client.allowAccess(
            to: .cidr(id: Self.narrow, address: IPNetwork("10.1.0.0/16")!, name: "", filters: [.tcp(ports: 443...443)]),
            expiresAt: nil
        )
        // Neither the /16 (TCP 443) nor the /8 (UDP 53) allows TCP 80.
        let blocked = try Self.tcp(to: "10.1.2.3", port: 80)
        let verdict = client.translateOutbound(blocked, now: Self.now)
        #expect(Self.dropped(verdict) == .filtered)
        #expect(Self.answer(verdict, to: blocked) == [3, 13])
        // The /16 allows TCP 443; the wider /8 allows UDP 53 inside the /16 too.
        #expect(Self.forwarded(client.translateOutbound(try Self.tcp(to: "10.1.2.3", port: 443), now: Self.now)) != nil)
        #expect(Self.forwarded(client.translateOutbound(try Self.udp(to: "10.1.2.3", port: 53), now: Self.now)) != nil)
        // Outside the /16 only the /8 applies.
        #expect(
            Self.dropped(client.translateOutbound(try Self.tcp(to: "10.2.0.1", port: 443), now: Self.now)) == .filtered
        )
    }

    /// The per-network merged filters give, for every destination, the verdict of asking each authorized CIDR
    /// resource covering it in turn: forwarded when one permits, `filtered` when none does, `notAuthorized` when
    /// none covers it.
    @Test(arguments: TestSeeds.seeds(count: 20))
    func aPacketPassesExactlyWhenOneAuthorizedResourceCoveringItsDestinationPermitsIt(seed: UInt64) throws {
        var random = SeededRandomNumberGenerator(seed: seed)
        var client = Self.client()
        var resources: [(network: IPNetwork, filters: FilterEngine)] = []
        let filterChoices: [[Filter]] = [
            [], [.tcp(ports: 80...80)], [.tcp(ports: 443...443), .udp(ports: nil)], [.icmp], [.udp(ports: 53...53)],
        ]
        for index in 0..<Int.random(in: 1...8, using: &random) {
            let prefixLength = UInt8.random(in: 8...24, using: &random)
            let base = IPAddress.v4(
                IPv4Address(rawValue: 0x0A00_0000 | UInt32.random(in: 0...0xFF_FFFF, using: &random))
            )
            let network = try IPNetwork(masking: base, prefixLength: prefixLength)
            let filters = filterChoices[Int.random(in: 0..<filterChoices.count, using: &random)]
            client.allowAccess(
                to: .cidr(id: ResourceID("r\(index)"), address: network, name: "", filters: filters),
                expiresAt: nil
            )
            resources.append((network, FilterEngine(filters)))
        }
        for _ in 0..<200 {
            let destination = IPAddress.v4(
                IPv4Address(rawValue: 0x0A00_0000 | UInt32.random(in: 0...0xFF_FFFF, using: &random))
            )
            let port: UInt16 = [53, 80, 443, 8080][Int.random(in: 0..<4, using: &random)]
            let isTCP = Bool.random(using: &random)
            let packet =
                isTCP ? try Self.tcp(to: "\(destination)", port: port) : try Self.udp(to: "\(destination)", port: port)
            let transport: TransportProtocol = isTCP ? .tcp(port: port) : .udp(port: port)
            let covering = resources.filter { $0.network.contains(destination) }
            let verdict = client.translateOutbound(packet, now: Self.now)
            if covering.isEmpty {
                #expect(Self.dropped(verdict) == .notAuthorized, "\(destination) \(TestSeeds.replayHint(seed))")
            } else if covering.contains(where: { $0.filters.permits(transport) }) {
                #expect(Self.forwarded(verdict) != nil, "\(destination) \(transport) \(TestSeeds.replayHint(seed))")
            } else {
                #expect(Self.dropped(verdict) == .filtered, "\(destination) \(transport) \(TestSeeds.replayHint(seed))")
            }
        }
    }

    @Test func aFilterUpdateOfAWiderResourceReachesTheNarrowerResourcesNetwork() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: [.udp(ports: 53...53)]),
            expiresAt: nil
        )
        client.allowAccess(
            to: .cidr(id: Self.narrow, address: IPNetwork("10.1.0.0/16")!, name: "", filters: [.tcp(ports: 443...443)]),
            expiresAt: nil
        )
        let packet = try Self.tcp(to: "10.1.2.3", port: 80)
        #expect(Self.dropped(client.translateOutbound(packet, now: Self.now)) == .filtered)
        client.updateFilters(of: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: []))
        #expect(Self.forwarded(client.translateOutbound(packet, now: Self.now)) != nil)
    }

    @Test(arguments: [
        "10.0.0.1", "172.16.0.1", "192.168.0.1", "127.0.0.1", "169.254.1.1", "172.31.255.255", "224.0.0.1", "240.0.0.1",
        "255.255.255.255",
    ])
    func internetResourceAnswersNonInternetIPv4WithNetworkUnreachable(address: String) throws {
        var client = Self.client()
        client.allowAccess(to: .internet(id: Self.internet), expiresAt: nil)
        // 100.64.0.0/10 is excluded too, but on a gateway it is all tunnel and proxy addresses, refused earlier.
        let packet = try Self.tcp(to: address, port: 80)
        let verdict = client.translateOutbound(packet, now: Self.now)
        #expect(Self.dropped(verdict) == .notInternetAddress)
        #expect(Self.answer(verdict, to: packet) == [3, 0])
    }

    @Test(arguments: ["::1", "::ffff:1.1.1.1", "fc00::1", "fe80::1", "ff02::1"])
    func internetResourceAnswersNonInternetIPv6WithNetworkUnreachable(address: String) throws {
        var client = Self.client()
        client.allowAccess(to: .internet(id: Self.internet), expiresAt: nil)
        let packet = try Self.tcp(from: .v6(Self.clientV6), to: address, port: 80)
        let verdict = client.translateOutbound(packet, now: Self.now)
        #expect(Self.dropped(verdict) == .notInternetAddress)
        #expect(Self.answer(verdict, to: packet) == [1, 3])
    }

    @Test func internetResourceForwardsPublicAddresses() throws {
        var client = Self.client()
        client.allowAccess(to: .internet(id: Self.internet), expiresAt: nil)
        #expect(Self.forwarded(client.translateOutbound(try Self.tcp(to: "1.1.1.1", port: 443), now: Self.now)) != nil)
        let v6 = try Self.tcp(from: .v6(Self.clientV6), to: "2606:4700::1111", port: 443)
        #expect(Self.forwarded(client.translateOutbound(v6, now: Self.now)) != nil)
    }

    @Test func proxyAddressWithoutTranslationIsAnsweredNetworkUnreachable() throws {
        var client = Self.client()
        client.allowAccess(to: .dns(id: Self.dns, address: "*.corp.example", name: "", filters: []), expiresAt: nil)
        let packet = try Self.tcp(to: "100.96.0.1", port: 80)
        let verdict = client.translateOutbound(packet, now: Self.now)
        #expect(Self.dropped(verdict) == .noProxyTranslation)
        #expect(Self.answer(verdict, to: packet) == [3, 0])
    }

    // MARK: DNS resources

    static let proxies: [IPAddress] = (1...4).map { .v4(IPv4Address(100, 96, 0, UInt8($0))) }

    @Test func assignedIPsForAResourceNotAuthorizedIsAnsweredInactiveAtOnce() {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: []),
            expiresAt: nil
        )
        for resource in [Self.dns, Self.cidr] {
            #expect(
                client.handleAssignedIPs(resource: resource, domain: "app.corp.example", proxyIPs: Self.proxies)
                    == .reply(.domainStatus(resource: resource, domain: "app.corp.example", status: .inactive))
            )
        }
    }

    @Test func assignedIPsForADomainOutsideThePatternIsAnsweredInactive() {
        var client = Self.client()
        client.allowAccess(to: .dns(id: Self.dns, address: "*.corp.example", name: "", filters: []), expiresAt: nil)
        #expect(
            client.handleAssignedIPs(resource: Self.dns, domain: "evil.example", proxyIPs: Self.proxies)
                == .reply(.domainStatus(resource: Self.dns, domain: "evil.example", status: .inactive))
        )
    }

    @Test func dnsResourceFlowIsTranslatedToTheResolvedAddressAndBack() throws {
        var client = Self.client()
        client.allowAccess(to: .dns(id: Self.dns, address: "*.corp.example", name: "", filters: []), expiresAt: nil)
        let domain = try DomainName("app.corp.example")
        #expect(
            client.handleAssignedIPs(resource: Self.dns, domain: "App.Corp.Example", proxyIPs: Self.proxies)
                == .resolve(resource: Self.dns, domain: domain)
        )
        // The client repeats AssignedIps while the name resolves.
        #expect(
            client.handleAssignedIPs(resource: Self.dns, domain: "app.corp.example", proxyIPs: Self.proxies) == .pending
        )
        #expect(
            client.handleDomainResolved(resource: Self.dns, domain: domain, addresses: [IPAddress("10.9.9.9")!])
                == .domainStatus(resource: Self.dns, domain: "app.corp.example", status: .active)
        )
        let outbound = try #require(
            Self.forwarded(client.translateOutbound(try Self.tcp(to: "100.96.0.1", port: 443), now: Self.now))
        )
        #expect(outbound.destination == IPAddress("10.9.9.9"))
        #expect(outbound.source == .v4(Self.clientV4))

        guard
            case .forward(let inbound) = client.translateInbound(
                try Self.reply(from: "10.9.9.9", port: 443),
                now: Self.now
            )
        else {
            Issue.record("the resource's reply did not reach the client")
            return
        }
        #expect(inbound.source == IPAddress("100.96.0.1"))
        #expect(inbound.destination == .v4(Self.clientV4))
    }

    @Test func failedResolutionIsReportedInactive() throws {
        var client = Self.client()
        client.allowAccess(to: .dns(id: Self.dns, address: "**.corp.example", name: "", filters: []), expiresAt: nil)
        let domain = try DomainName("a.b.corp.example")
        #expect(
            client.handleAssignedIPs(resource: Self.dns, domain: "a.b.corp.example", proxyIPs: Self.proxies)
                == .resolve(resource: Self.dns, domain: domain)
        )
        #expect(
            client.handleDomainResolved(resource: Self.dns, domain: domain, addresses: nil)
                == .domainStatus(resource: Self.dns, domain: "a.b.corp.example", status: .inactive)
        )
    }

    /// Found by the gateway-policy fuzzer (`regression-domain-resolving-to-a-proxy-address`).
    @Test func resolvedAddressesInsideTheTunnelRangesAreNotUsed() throws {
        var client = Self.client()
        client.allowAccess(to: .dns(id: Self.dns, address: "*.corp.example", name: "", filters: []), expiresAt: nil)
        let domain = try DomainName("app.corp.example")
        _ = client.handleAssignedIPs(resource: Self.dns, domain: "app.corp.example", proxyIPs: Self.proxies)
        #expect(
            client.handleDomainResolved(
                resource: Self.dns,
                domain: domain,
                addresses: [IPAddress("100.127.255.1")!, IPAddress("100.64.0.10")!]
            ) == .domainStatus(resource: Self.dns, domain: "app.corp.example", status: .inactive)
        )
        let packet = try Self.tcp(to: "100.96.0.1", port: 443)
        #expect(Self.dropped(client.translateOutbound(packet, now: Self.now)) == .noProxyTranslation)
    }

    @Test func proxyTrafficOfARemovedDNSResourceIsProhibited() throws {
        var client = Self.client()
        client.allowAccess(to: .dns(id: Self.dns, address: "*.corp.example", name: "", filters: []), expiresAt: nil)
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: []),
            expiresAt: nil
        )
        let domain = try DomainName("app.corp.example")
        _ = client.handleAssignedIPs(resource: Self.dns, domain: "app.corp.example", proxyIPs: Self.proxies)
        _ = client.handleDomainResolved(resource: Self.dns, domain: domain, addresses: [IPAddress("10.9.9.9")!])
        client.removeAccess(to: Self.dns)
        let packet = try Self.tcp(to: "100.96.0.2", port: 443)
        let verdict = client.translateOutbound(packet, now: Self.now)
        #expect(Self.dropped(verdict) == .notAuthorized)
        #expect(Self.answer(verdict, to: packet) == [3, 13])
    }

    @Test func proxyTrafficOfAResourceReauthorizedAsCIDRIsProhibited() throws {
        var client = Self.client()
        client.allowAccess(to: .dns(id: Self.dns, address: "*.corp.example", name: "", filters: []), expiresAt: nil)
        let domain = try DomainName("app.corp.example")
        _ = client.handleAssignedIPs(resource: Self.dns, domain: "app.corp.example", proxyIPs: Self.proxies)
        _ = client.handleDomainResolved(resource: Self.dns, domain: domain, addresses: [IPAddress("10.9.9.9")!])
        client.allowAccess(
            to: .cidr(id: Self.dns, address: IPNetwork("192.168.0.0/16")!, name: "", filters: []),
            expiresAt: nil
        )
        let packet = try Self.tcp(to: "100.96.0.1", port: 443)
        #expect(Self.dropped(client.translateOutbound(packet, now: Self.now)) == .notAuthorized)
    }

    @Test func dnsResourceFiltersApplyToProxyTraffic() throws {
        var client = Self.client()
        client.allowAccess(
            to: .dns(id: Self.dns, address: "*.corp.example", name: "", filters: [.udp(ports: 53...53)]),
            expiresAt: nil
        )
        let domain = try DomainName("app.corp.example")
        _ = client.handleAssignedIPs(resource: Self.dns, domain: "app.corp.example", proxyIPs: Self.proxies)
        _ = client.handleDomainResolved(resource: Self.dns, domain: domain, addresses: [IPAddress("10.9.9.9")!])
        let packet = try Self.tcp(to: "100.96.0.3", port: 443)
        let verdict = client.translateOutbound(packet, now: Self.now)
        #expect(Self.dropped(verdict) == .filtered)
        #expect(Self.answer(verdict, to: packet) == [3, 13])
    }

    // MARK: Resource → client

    @Test func inboundFromAnAuthorizedCIDRResourcePasses() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: [.tcp(ports: 80...80)]),
            expiresAt: nil
        )
        let reply = try Self.reply(from: "10.0.0.5", port: 80)
        guard case .forward(let forwarded) = client.translateInbound(reply, now: Self.now) else {
            Issue.record("dropped")
            return
        }
        #expect(forwarded == reply)
    }

    @Test func inboundFromOutsideTheClientsResourcesIsDropped() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: [.tcp(ports: 80...80)]),
            expiresAt: nil
        )
        guard
            case .drop(.unauthorizedSource) = client.translateInbound(
                try Self.reply(from: "192.168.0.5", port: 80),
                now: Self.now
            )
        else {
            Issue.record("not dropped as unauthorized")
            return
        }
        guard
            case .drop(.unauthorizedSource) = client.translateInbound(
                try Self.reply(from: "10.0.0.5", port: 22),
                now: Self.now
            )
        else {
            Issue.record("a port the filters deny reached the client")
            return
        }
    }

    @Test func inboundFromATunnelAddressIsDropped() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("100.64.0.0/10")!, name: "", filters: []),
            expiresAt: nil
        )
        guard
            case .drop(.fromTunnelAddress) = client.translateInbound(
                try Self.reply(from: "100.64.0.10", port: 80),
                now: Self.now
            )
        else {
            Issue.record("not dropped")
            return
        }
    }

    /// Found by the gateway-policy fuzzer (`regression-proxy-source-through-wide-cidr`).
    @Test func inboundFromAProxyAddressOutsideTheNATIsDroppedEvenUnderAWideCIDRResource() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("0.0.0.0/0")!, name: "", filters: []),
            expiresAt: nil
        )
        guard
            case .drop(.unauthorizedSource) = client.translateInbound(
                try Self.reply(from: "100.96.0.1", port: 443),
                now: Self.now
            )
        else {
            Issue.record("a packet from a proxy address reached the client without the NAT")
            return
        }
    }

    @Test func inboundForAnotherAddressIsDropped() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: []),
            expiresAt: nil
        )
        let packet = try Self.reply(from: "10.0.0.5", port: 80, to: IPAddress("100.64.0.77")!)
        guard case .drop(.unknownClient) = client.translateInbound(packet, now: Self.now) else {
            Issue.record("not dropped")
            return
        }
    }

    @Test func inboundICMPErrorsPassEvenWhenFiltersDenyICMP() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: [.tcp(ports: 80...80)]),
            expiresAt: nil
        )
        // A router on the way to 10.0.0.5 says the client's packet cannot be delivered.
        let error = try IPPacket(
            Self.rewriteAddresses(
                IPPacket.makeICMPDestinationUnreachable(
                    for: try Self.tcp(to: "10.0.0.5", port: 80),
                    reason: .networkUnreachable
                ).buffer,
                source: IPAddress("10.0.0.1")!,
                destination: .v4(Self.clientV4)
            )
        )
        guard case .forward = client.translateInbound(error, now: Self.now) else {
            Issue.record("an ICMP error was dropped")
            return
        }
        // Not an error: an echo request from the resource, which the filters deny.
        let ping = try IPPacket.makeICMPEchoRequest(
            source: IPAddress("10.0.0.5")!,
            destination: .v4(Self.clientV4),
            identifier: 1,
            sequenceNumber: 1
        )
        guard case .drop(.unauthorizedSource) = client.translateInbound(ping, now: Self.now) else {
            Issue.record("a filtered echo request reached the client")
            return
        }
    }

    // MARK: Authorizations

    @Test func pastExpiryIsRemovedOnTheNextCheck() {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: []),
            expiresAt: 1_000
        )
        client.allowAccess(to: .internet(id: Self.internet), expiresAt: nil)
        client.removeExpired(unixTime: .seconds(999))
        #expect(client.resources == [Self.cidr, Self.internet])
        client.removeExpired(unixTime: .seconds(1_000))
        #expect(client.resources == [Self.internet])
    }

    @Test func expiryUpdateExtendsTheAuthorization() {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: []),
            expiresAt: 1_000
        )
        client.updateExpiry(of: Self.cidr, to: 2_000)
        client.removeExpired(unixTime: .seconds(1_500))
        #expect(client.resources == [Self.cidr])
        #expect(client.expiresAt(Self.cidr) == 2_000)
    }

    @Test func retainKeepsOnlyListedResourcesWithTheirExpiries() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: []),
            expiresAt: nil
        )
        client.allowAccess(to: .internet(id: Self.internet), expiresAt: nil)
        client.retainAuthorizations([(Self.internet, 5_000)])
        #expect(client.resources == [Self.internet])
        #expect(client.expiresAt(Self.internet) == 5_000)
        // The CIDR route is gone with it.
        let packet = try Self.tcp(to: "10.0.0.5", port: 80)
        #expect(Self.dropped(client.translateOutbound(packet, now: Self.now)) == .notInternetAddress)
    }

    @Test func filterUpdateChangesOnlyFilters() throws {
        var client = Self.client()
        client.allowAccess(
            to: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: []),
            expiresAt: 7
        )
        client.updateFilters(
            of: .cidr(id: Self.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: [.udp(ports: nil)])
        )
        #expect(
            Self.dropped(client.translateOutbound(try Self.tcp(to: "10.0.0.5", port: 80), now: Self.now)) == .filtered
        )
        #expect(client.expiresAt(Self.cidr) == 7)
        // A resource the client does not have is not added by a filter update.
        client.updateFilters(of: .internet(id: Self.internet))
        #expect(client.resources == [Self.cidr])
    }

    /// The packet in `buffer` with other addresses.
    static func rewriteAddresses(_ buffer: ByteBuffer, source: IPAddress, destination: IPAddress) throws -> ByteBuffer {
        var packet = try IPPacket(buffer)
        packet.setSource(source)
        packet.setDestination(destination)
        return packet.buffer
    }
}
