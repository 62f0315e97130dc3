import ConnlibCore
import FirezoneTime
import IPPacket
import PortalMessages
import Testing

/// A flow's packets after the first skip the resource lookup and the filters (``ClientOnGateway`` remembers the
/// last permitted flow each way). Every change of what the client may reach takes effect on the flow's very next
/// packet, in both directions: each test lets two packets of a flow through each way, so that the second one was
/// judged by what was remembered, changes the authorizations, and checks the third.
@Suite struct ClientOnGatewayPermittedFlowTests {
    typealias Fixture = ClientOnGatewayTests

    static let resource = GatewayResource.cidr(
        id: Fixture.cidr,
        address: IPNetwork("10.0.0.0/8")!,
        name: "",
        filters: [.tcp(ports: 80...80)]
    )

    /// A client with ``resource``, through which a TCP flow to 10.0.0.5:80 has been let through twice each way.
    static func clientWithFlow(expiresAt: UInt64? = nil) throws -> ClientOnGateway {
        var client = Fixture.client()
        client.allowAccess(to: Self.resource, expiresAt: expiresAt)
        try Self.expectFlowPasses(&client)
        try Self.expectFlowPasses(&client)
        return client
    }

    static func expectFlowPasses(
        _ client: inout ClientOnGateway,
        sourceLocation: SourceLocation = #_sourceLocation
    )
        throws
    {
        let packet = try Fixture.tcp(to: "10.0.0.5", port: 80)
        #expect(
            Fixture.forwarded(client.translateOutbound(packet, now: Fixture.now)) == packet,
            sourceLocation: sourceLocation
        )
        let reply = try Fixture.reply(from: "10.0.0.5", port: 80)
        guard case .forward(let forwarded) = client.translateInbound(reply, now: Fixture.now) else {
            Issue.record("the reply was dropped", sourceLocation: sourceLocation)
            return
        }
        #expect(forwarded == reply, sourceLocation: sourceLocation)
    }

    /// The flow's next packet each way: the client's is answered prohibited, the reply dropped.
    static func expectFlowRefused(
        _ client: inout ClientOnGateway,
        outbound: GatewayDropReason,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let packet = try Fixture.tcp(to: "10.0.0.5", port: 80)
        let verdict = client.translateOutbound(packet, now: Fixture.now)
        #expect(Fixture.dropped(verdict) == outbound, sourceLocation: sourceLocation)
        #expect(Fixture.answer(verdict, to: packet) == [3, 13], sourceLocation: sourceLocation)
        guard
            case .drop(let reason) = client.translateInbound(
                try Fixture.reply(from: "10.0.0.5", port: 80),
                now: Fixture.now
            )
        else {
            Issue.record("the reply was let through", sourceLocation: sourceLocation)
            return
        }
        #expect(reason == .unauthorizedSource, sourceLocation: sourceLocation)
    }

    @Test func revokedAuthorizationRefusesTheFlowsNextPacket() throws {
        var client = try Self.clientWithFlow()
        client.removeAccess(to: Fixture.cidr)
        try Self.expectFlowRefused(&client, outbound: .notAuthorized)
    }

    @Test func expiredAuthorizationRefusesTheFlowsNextPacket() throws {
        var client = try Self.clientWithFlow(expiresAt: 1_000)
        client.removeExpired(unixTime: .seconds(999))
        try Self.expectFlowPasses(&client)
        client.removeExpired(unixTime: .seconds(1_000))
        try Self.expectFlowRefused(&client, outbound: .notAuthorized)
    }

    /// A resource deleted while the portal was away is missing from the next `init`'s authorizations.
    @Test func resourceMissingFromInitRefusesTheFlowsNextPacket() throws {
        var client = try Self.clientWithFlow()
        client.retainAuthorizations([(resource: Fixture.narrow, expiresAt: 5_000)])
        try Self.expectFlowRefused(&client, outbound: .notAuthorized)
    }

    @Test func changedFilterAppliesToTheFlowsNextPacket() throws {
        var client = try Self.clientWithFlow()
        client.updateFilters(
            of: .cidr(id: Fixture.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: [.tcp(ports: 443...443)])
        )
        try Self.expectFlowRefused(&client, outbound: .filtered)
        client.updateFilters(of: Self.resource)
        try Self.expectFlowPasses(&client)
    }

    /// Re-authorizing a resource under the same ID replaces its filters too.
    @Test func reauthorizedResourceWithNarrowerFiltersAppliesToTheFlowsNextPacket() throws {
        var client = try Self.clientWithFlow()
        client.allowAccess(
            to: .cidr(id: Fixture.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: [.icmp]),
            expiresAt: nil
        )
        try Self.expectFlowRefused(&client, outbound: .filtered)
    }

    /// A reply that belonged to no NAT session was let through untranslated; once the client opens a session to the
    /// same address and port through a proxy IP, the next such reply is the session's, from the proxy IP.
    @Test func newNATSessionTranslatesTheNextReplyOfAPermittedFlow() throws {
        var client = Fixture.client()
        client.allowAccess(
            to: .cidr(id: Fixture.cidr, address: IPNetwork("10.0.0.0/8")!, name: "", filters: []),
            expiresAt: nil
        )
        client.allowAccess(to: .dns(id: Fixture.dns, address: "*.corp.example", name: "", filters: []), expiresAt: nil)
        _ = client.handleAssignedIPs(resource: Fixture.dns, domain: "app.corp.example", proxyIPs: Fixture.proxies)
        _ = client.handleDomainResolved(
            resource: Fixture.dns,
            domain: try DomainName("app.corp.example"),
            addresses: [IPAddress("10.9.9.9")!]
        )
        let reply = try Fixture.reply(from: "10.9.9.9", port: 443)
        for _ in 0..<2 {
            guard case .forward(let forwarded) = client.translateInbound(reply, now: Fixture.now) else {
                Issue.record("the CIDR resource's reply was dropped")
                return
            }
            #expect(forwarded.source == IPAddress("10.9.9.9")!)
        }
        let toProxy = try Fixture.tcp(to: "100.96.0.1", port: 443)
        #expect(
            Fixture.forwarded(client.translateOutbound(toProxy, now: Fixture.now))?.destination == IPAddress(
                "10.9.9.9"
            )!
        )
        guard case .forward(let translated) = client.translateInbound(reply, now: Fixture.now) else {
            Issue.record("the session's reply was dropped")
            return
        }
        #expect(translated.source == IPAddress("100.96.0.1")!)
    }

    /// Another flow of the same client and resource is judged on its own: what was remembered is one flow's verdict.
    @Test func anotherPortOfAPermittedAddressIsJudgedByTheFilters() throws {
        var client = try Self.clientWithFlow()
        let other = try Fixture.tcp(to: "10.0.0.5", port: 81)
        #expect(Fixture.dropped(client.translateOutbound(other, now: Fixture.now)) == .filtered)
        guard
            case .drop(.unauthorizedSource) = client.translateInbound(
                try Fixture.reply(from: "10.0.0.5", port: 81),
                now: Fixture.now
            )
        else {
            Issue.record("a reply from a filtered port was let through")
            return
        }
    }
}
