import ConnlibCore
import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import PortalMessages
import Testing

private typealias P = NATTestPackets

@Suite struct GatewayDNSResourceNATTests {
    typealias DNSNAT = GatewayDNSResourceNAT<String>

    let records = InMemoryLogHandler.Records()
    let resource = ResourceID("0f4e2c8a-8a8e-4b5c-9b1e-6a7d3c2b1a00")
    let otherResource = ResourceID("7c1d9e3b-2f4a-4d6e-8b0c-1a2b3c4d5e6f")

    static let proxiesV4 = (1...4).map { IPAddress.v4(IPv4Address(100, 96, 0, UInt8($0))) }
    static let proxiesV6 = (1...4).map { IPAddress("fd00:2021:1111:8000::\($0)")! }

    func makeNAT() -> DNSNAT {
        DNSNAT(logger: self.records.logger(label: "dns-resource-nat"))
    }

    /// Sets `domain` up with `proxies` and the resolved `addresses`; returns the status to send.
    func setUp(
        _ nat: inout DNSNAT,
        domain: String = "app.example.com",
        resource: ResourceID? = nil,
        proxies: [IPAddress] = Self.proxiesV4 + Self.proxiesV6,
        addresses: [IPAddress]?
    ) -> DNSNAT.DomainStatus? {
        let resource = resource ?? self.resource
        let request = nat.handleAssignedIPs(resource: resource, domain: domain, proxyAddresses: proxies)
        #expect(request == DNSNAT.ResolveRequest(resource: resource, domain: domain))
        return nat.handleResolution(resource: resource, domain: domain, addresses: addresses)
    }

    // MARK: Setup

    @Test func assignedIPsAskForOneResolutionUntilItIsAnswered() {
        var nat = self.makeNAT()
        let first = nat.handleAssignedIPs(
            resource: self.resource,
            domain: "a.example.com",
            proxyAddresses: Self.proxiesV4
        )
        let repeated = nat.handleAssignedIPs(
            resource: self.resource,
            domain: "a.example.com",
            proxyAddresses: Self.proxiesV4
        )
        #expect(first == DNSNAT.ResolveRequest(resource: self.resource, domain: "a.example.com"))
        #expect(repeated == nil)
        _ = nat.handleResolution(resource: self.resource, domain: "a.example.com", addresses: [P.realV4])
        let afterAnswer = nat.handleAssignedIPs(
            resource: self.resource,
            domain: "a.example.com",
            proxyAddresses: Self.proxiesV4
        )
        #expect(afterAnswer != nil)
    }

    @Test func resolvedDomainIsActiveAndMapsProxiesRoundRobinWithinEachFamily() {
        var nat = self.makeNAT()
        let realV4 = [IPAddress("203.0.113.2")!, IPAddress("203.0.113.1")!]
        let realV6 = [IPAddress("2001:db8::3")!, IPAddress("2001:db8::1")!, IPAddress("2001:db8::2")!]
        let status = self.setUp(&nat, addresses: realV6 + realV4)
        #expect(status == DNSNAT.DomainStatus(resource: self.resource, domain: "app.example.com", status: .active))
        // Both lists in ascending order, the proxies taking the addresses in turn.
        let expected: [(IPAddress, String)] = [
            (Self.proxiesV4[0], "203.0.113.1"), (Self.proxiesV4[1], "203.0.113.2"),
            (Self.proxiesV4[2], "203.0.113.1"), (Self.proxiesV4[3], "203.0.113.2"),
            (Self.proxiesV6[0], "2001:db8::1"), (Self.proxiesV6[1], "2001:db8::2"),
            (Self.proxiesV6[2], "2001:db8::3"), (Self.proxiesV6[3], "2001:db8::1"),
        ]
        for (proxy, real) in expected {
            #expect(nat.realAddress(for: proxy) == .mapped(IPAddress(real)!), "proxy \(proxy)")
        }
    }

    @Test func failedResolutionIsInactiveAndMapsNothing() {
        var nat = self.makeNAT()
        let status = self.setUp(&nat, addresses: nil)
        #expect(status == DNSNAT.DomainStatus(resource: self.resource, domain: "app.example.com", status: .inactive))
        #expect(nat.realAddress(for: Self.proxiesV4[0]) == .noEntry)
    }

    @Test func resolutionWithoutAddressesIsInactive() {
        var nat = self.makeNAT()
        #expect(self.setUp(&nat, addresses: [])?.status == .inactive)
        #expect(nat.count == 0)
    }

    @Test func answerNobodyWaitsForIsIgnored() {
        var nat = self.makeNAT()
        #expect(nat.handleResolution(resource: self.resource, domain: "a.example.com", addresses: [P.realV4]) == nil)
        #expect(nat.count == 0)
    }

    @Test func proxyOfAFamilyTheDomainLacksMapsOntoTheOtherFamilyAndIsUnreachable() throws {
        var nat = self.makeNAT()
        #expect(self.setUp(&nat, addresses: [P.realV6])?.status == .active)
        #expect(nat.realAddress(for: Self.proxiesV4[0]) == .familyMismatch(P.realV6))
        var packet = try P.udp(to: Self.proxiesV4[0])
        let before = P.bytes(packet)
        #expect(try nat.translateOutbound(&packet, now: .zero) == .unreachable(.familyMismatch(P.realV6)))
        #expect(P.bytes(packet) == before)
    }

    @Test func addressesOutsideTheProxyRangesAreNotMapped() {
        var nat = self.makeNAT()
        let notAProxy = IPAddress("10.0.0.1")!
        _ = self.setUp(&nat, proxies: [notAProxy] + Self.proxiesV4.dropFirst(), addresses: [P.realV4])
        #expect(nat.realAddress(for: notAProxy) == .noEntry)
        #expect(nat.count == 3)
    }

    @Test func domainsBeyondThePendingBoundWaitForTheClientsRepeat() {
        var nat = self.makeNAT()
        let bound = NATConstants.maximumPendingResolutionsPerClient
        for index in 0..<bound {
            let request = nat.handleAssignedIPs(
                resource: self.resource,
                domain: "d\(index).example.com",
                proxyAddresses: Self.proxiesV4
            )
            #expect(request != nil)
        }
        let beyond = nat.handleAssignedIPs(
            resource: self.resource,
            domain: "late.example.com",
            proxyAddresses: Self.proxiesV4
        )
        #expect(beyond == nil)
        _ = nat.handleResolution(resource: self.resource, domain: "d0.example.com", addresses: [P.realV4])
        let repeated = nat.handleAssignedIPs(
            resource: self.resource,
            domain: "late.example.com",
            proxyAddresses: Self.proxiesV4
        )
        #expect(repeated != nil)
    }

    @Test func proxyAddressesBeyondTheBoundAreNotMapped() {
        var nat = self.makeNAT()
        let bound = NATConstants.maximumProxyAddressesPerClient
        // 8 proxy IPs a domain, numbered from 100.96.0.1 up.
        var next = IPv4Address(100, 96, 0, 1).rawValue
        func proxies() -> [IPAddress] {
            defer { next += 8 }
            return (0..<8).map { IPAddress.v4(IPv4Address(rawValue: next + UInt32($0))) }
        }
        for index in 0..<(bound / 8) {
            _ = self.setUp(&nat, domain: "d\(index).example.com", proxies: proxies(), addresses: [P.realV4])
        }
        #expect(nat.count == bound)
        let beyond = proxies()
        _ = self.setUp(&nat, domain: "late.example.com", proxies: beyond, addresses: [P.realV4])
        #expect(nat.count == bound)
        #expect(nat.realAddress(for: beyond[0]) == .noEntry)
    }

    // MARK: Re-resolution (Firezone #10285) and re-assignment (#10310)

    @Test func openSessionsKeepTheirRealAddressWhenTheDomainResolvesElsewhere() throws {
        var nat = self.makeNAT()
        _ = self.setUp(&nat, proxies: Self.proxiesV4, addresses: [P.realV4])
        var packet = try P.udp(to: Self.proxiesV4[0])
        _ = try nat.translateOutbound(&packet, now: .zero)

        #expect(self.setUp(&nat, proxies: Self.proxiesV4, addresses: [P.otherRealV4])?.status == .active)

        #expect(nat.realAddress(for: Self.proxiesV4[0]) == .mapped(P.realV4), "has a session: kept")
        #expect(nat.realAddress(for: Self.proxiesV4[1]) == .mapped(P.otherRealV4), "no session: re-mapped")
        let kept = self.records.all.filter { $0.message.hasPrefix("Keeping the DNS resource NAT entry") }
        #expect(kept.count == 1)
    }

    @Test func unchangedRealAddressWithOpenSessionsIsNotLogged() throws {
        var nat = self.makeNAT()
        _ = self.setUp(&nat, proxies: Self.proxiesV4, addresses: [P.realV4])
        var packet = try P.udp(to: Self.proxiesV4[0])
        _ = try nat.translateOutbound(&packet, now: .zero)

        _ = self.setUp(&nat, proxies: Self.proxiesV4, addresses: [P.realV4])

        #expect(nat.realAddress(for: Self.proxiesV4[0]) == .mapped(P.realV4))
        #expect(!self.records.all.contains { $0.message.hasPrefix("Keeping the DNS resource NAT entry") })
    }

    @Test func proxyReassignedToAnotherDomainResetsTheClientsNAT() throws {
        var nat = self.makeNAT()
        _ = self.setUp(&nat, domain: "old.example.com", proxies: Self.proxiesV4, addresses: [P.realV4])
        _ = self.setUp(&nat, domain: "other.example.com", proxies: Self.proxiesV6, addresses: [P.realV6])
        var packet = try P.udp(to: Self.proxiesV4[0])
        _ = try nat.translateOutbound(&packet, now: .zero)
        #expect(nat.natTable.count == 1)

        // After signing in again the client gives one of those proxy IPs to another domain.
        let status = self.setUp(
            &nat,
            domain: "new.example.com",
            resource: self.otherResource,
            proxies: [Self.proxiesV4[0]],
            addresses: [P.otherRealV4]
        )

        #expect(status?.status == .active)
        #expect(nat.natTable.count == 0)
        #expect(nat.translation(for: Self.proxiesV4[0])?.domain == "new.example.com")
        #expect(nat.realAddress(for: Self.proxiesV4[0]) == .mapped(P.otherRealV4))
        #expect(nat.realAddress(for: Self.proxiesV4[1]) == .noEntry)
        #expect(nat.realAddress(for: Self.proxiesV6[0]) == .noEntry)
    }

    @Test func sameProxiesForTheSameDomainKeepTheClientsNAT() throws {
        var nat = self.makeNAT()
        _ = self.setUp(&nat, proxies: Self.proxiesV4, addresses: [P.realV4])
        var packet = try P.udp(to: Self.proxiesV4[0])
        _ = try nat.translateOutbound(&packet, now: .zero)
        _ = self.setUp(&nat, proxies: Self.proxiesV4, addresses: [P.realV4])
        #expect(nat.natTable.count == 1)
    }

    // MARK: Packets

    @Test func packetToAMappedProxyGoesToItsRealAddressAndTheReplyComesBack() throws {
        var nat = self.makeNAT()
        _ = self.setUp(&nat, proxies: Self.proxiesV4, addresses: [P.realV4])
        var packet = try P.udp(to: Self.proxiesV4[2])
        let result = try nat.translateOutbound(&packet, now: .zero)
        let translation = try #require(nat.translation(for: Self.proxiesV4[2]))
        #expect(
            result == .translated(translation, NATTable.Outside(transport: .udp(port: 40_000), realAddress: P.realV4))
        )
        #expect(packet.destination == P.realV4)

        var reply = try P.reply(to: packet)
        #expect(
            nat.translateInbound(&reply, now: P.at(1))
                == .translated(
                    NATTable.Inside(transport: .udp(port: 40_000), proxyAddress: Self.proxiesV4[2])
                )
        )
        #expect(reply.source == Self.proxiesV4[2])
    }

    @Test func packetToAnUnmappedProxyIsUnreachable() throws {
        var nat = self.makeNAT()
        var packet = try P.udp(to: Self.proxiesV4[0])
        #expect(try nat.translateOutbound(&packet, now: .zero) == .unreachable(.noEntry))
    }

    @Test func packetNotToAProxyIsLeftAlone() throws {
        var nat = self.makeNAT()
        var packet = try P.udp(to: P.realV4)
        let before = P.bytes(packet)
        #expect(try nat.translateOutbound(&packet, now: .zero) == .notProxyAddress)
        #expect(P.bytes(packet) == before)
    }
}
