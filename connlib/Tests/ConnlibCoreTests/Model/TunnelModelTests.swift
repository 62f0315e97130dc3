import ConnlibCore
import IPPacket
import PortalMessages
import Testing

/// The reference model's rules, one at a time: each test plays a few steps on the model alone and checks what it
/// expects the client's application to see.
@Suite struct TunnelModelTests {
    typealias Step = TunnelSequence.Step

    /// Plays `steps`, teaching the model sequential proxy addresses, and returns the last expectation.
    @discardableResult
    static func play(_ model: inout TunnelModel, _ steps: [Step]) -> TunnelModel.Expectation? {
        var tunnel = ModelledTunnel(
            mutation: .none,
            model: TunnelModel(clientAppliesFilters: model.clientAppliesFilters)
        )
        var last: TunnelModel.Expectation?
        for step in steps {
            guard let action = model.resolve(step) else {
                last = nil
                continue
            }
            let expectation = model.expect(action)
            let observed = tunnel.perform(action)
            #expect(model.check(observed, against: expectation) == nil)
            last = expectation
        }
        return last
    }

    static func expectation(after steps: [Step]) -> TunnelModel.Expectation? {
        var model = TunnelModel()
        return Self.play(&model, steps)
    }

    static func reply(_ address: String) -> TunnelModel.Expectation {
        .exactly(.packet(.reply(from: IPAddress(address)!)))
    }

    static func prohibited(_ address: String) -> TunnelModel.Expectation {
        .exactly(.packet(.prohibited(from: IPAddress(address)!)))
    }

    static func unreachable(_ address: String) -> TunnelModel.Expectation {
        .exactly(.packet(.unreachable(from: IPAddress(address)!)))
    }

    @Test func aPacketToNoResourceVanishes() {
        #expect(Self.expectation(after: [.send(.address(0), .icmpEcho)]) == .exactly(.nothing))
        #expect(
            Self.expectation(after: [.upsert(slot: 3, sites: .a, filters: 0), .send(.address(0), .icmpEcho)])
                == .exactly(.nothing)
        )
    }

    @Test func aPermittedPacketToACIDRResourceIsEchoedFromItsDestination() {
        let steps: [Step] = [.upsert(slot: 0, sites: .a, filters: 1), .send(.address(0), .tcp(port: 80))]
        #expect(Self.expectation(after: steps) == Self.reply("10.0.0.5"))
    }

    @Test func aFilteredPacketGetsICMPProhibitedFromItsDestination() {
        let steps: [Step] = [.upsert(slot: 0, sites: .a, filters: 1), .send(.address(0), .udp(port: 55))]
        #expect(Self.expectation(after: steps) == Self.prohibited("10.0.0.5"))
    }

    @Test func aRouteWhoseFilterPermitsWinsOverALongerPrefix() {
        // 10.0.0.0/24 permits TCP 80 only, 10.0.0.0/16 everything: UDP to 10.0.0.5 goes through the /16.
        let steps: [Step] = [
            .upsert(slot: 0, sites: .a, filters: 1),
            .upsert(slot: 1, sites: .b, filters: 0),
            .setGatewayOnline(0, false),
            .send(.address(0), .udp(port: 55)),
        ]
        // Site A's gateway is offline: only the /16 (site B) can carry the packet, and it does.
        #expect(Self.expectation(after: steps) == Self.reply("10.0.0.5"))
    }

    @Test func theLongerPrefixWinsAmongRoutesThatPermit() {
        // Both permit UDP; the /24's only gateway is offline, so choosing it drops the packet.
        let steps: [Step] = [
            .upsert(slot: 0, sites: .a, filters: 0),
            .upsert(slot: 1, sites: .b, filters: 0),
            .setGatewayOnline(0, false),
            .send(.address(0), .udp(port: 55)),
        ]
        #expect(Self.expectation(after: steps) == .exactly(.nothing))
    }

    @Test func aRemovedOrRevokedResourceNoLongerRoutes() {
        let added: [Step] = [.upsert(slot: 3, sites: .both, filters: 0), .send(.address(3), .icmpEcho)]
        #expect(Self.expectation(after: added) == Self.reply("192.168.50.9"))
        #expect(
            Self.expectation(after: added + [.remove(slot: 3), .send(.address(3), .icmpEcho)]) == .exactly(.nothing)
        )
        #expect(
            Self.expectation(after: added + [.revoke(slot: 3), .send(.address(3), .icmpEcho)]) == .exactly(.nothing)
        )
        let readded =
            added + [.revoke(slot: 3), .upsert(slot: 3, sites: .both, filters: 0), .send(.address(3), .icmpEcho)]
        #expect(Self.expectation(after: readded) == Self.reply("192.168.50.9"))
    }

    @Test func aNewFlowNeedsAnOnlineGatewayOfTheResourcesSites() {
        let steps: [Step] = [
            .upsert(slot: 3, sites: .a, filters: 0), .setGatewayOnline(0, false), .send(.address(3), .icmpEcho),
        ]
        #expect(Self.expectation(after: steps) == .exactly(.nothing))
    }

    @Test func anExistingFlowOutlivesItsGatewayLeavingThePortal() {
        let steps: [Step] = [
            .upsert(slot: 3, sites: .a, filters: 0), .send(.address(3), .icmpEcho),
            .setGatewayOnline(0, false), .send(.address(3), .icmpEcho),
        ]
        #expect(Self.expectation(after: steps) == Self.reply("192.168.50.9"))
    }

    @Test func connectionFailureRoamingAndRestartsEndTheClientsFlows() {
        let prefix: [Step] = [
            .upsert(slot: 3, sites: .a, filters: 0), .send(.address(3), .icmpEcho), .setGatewayOnline(0, false),
        ]
        for event: Step in [.connectionFailure, .roam, .restartClient, .expireFlows] {
            #expect(
                Self.expectation(after: prefix + [event, .send(.address(3), .icmpEcho)]) == .exactly(.nothing),
                "\(event)"
            )
        }
        // A restarted gateway is back on the portal: the client's next packet gets a new flow through it.
        #expect(
            Self.expectation(after: prefix + [.restartGateway(0), .send(.address(3), .icmpEcho)])
                == Self.reply("192.168.50.9")
        )
    }

    @Test func aFilterChangeMissedByAnOfflineGatewayLeavesItsOldFilter() {
        let steps: [Step] = [
            .upsert(slot: 3, sites: .a, filters: 1), .send(.address(3), .tcp(port: 80)),
            .setGatewayOnline(0, false), .upsert(slot: 3, sites: .a, filters: 0), .send(.address(3), .udp(port: 55)),
        ]
        #expect(Self.expectation(after: steps) == Self.prohibited("192.168.50.9"))
        // The prohibited ends the client's flow; the new one finds no online gateway in site A.
        #expect(Self.expectation(after: steps + [.send(.address(3), .udp(port: 55))]) == .exactly(.nothing))
        let other = steps + [.upsert(slot: 3, sites: .both, filters: 0), .send(.address(3), .udp(port: 55))]
        #expect(Self.expectation(after: other) == Self.reply("192.168.50.9"))
        let online: [Step] = [
            .upsert(slot: 3, sites: .a, filters: 1), .send(.address(3), .tcp(port: 80)),
            .upsert(slot: 3, sites: .a, filters: 0), .send(.address(3), .udp(port: 55)),
        ]
        #expect(Self.expectation(after: online) == Self.reply("192.168.50.9"))
    }

    /// The model of connlib at Firezone 685acdac3a, which leaves filters to the gateway.
    static func gatewayFiltersOnly(after steps: [Step]) -> TunnelModel.Expectation? {
        var model = TunnelModel(clientAppliesFilters: false)
        return Self.play(&model, steps)
    }

    @Test func withoutClientFiltersTheLongestPrefixRoutesAndItsFilterDecidesAtTheGateway() {
        // 10.0.0.0/24 permits TCP 80 only, 10.0.0.0/16 everything, both through site A's gateway.
        let steps: [Step] = [
            .upsert(slot: 0, sites: .a, filters: 1), .upsert(slot: 1, sites: .a, filters: 0),
            .send(.address(1), .udp(port: 55)), .send(.address(0), .udp(port: 55)),
        ]
        #expect(Self.gatewayFiltersOnly(after: steps) == Self.prohibited("10.0.0.5"))
        #expect(Self.gatewayFiltersOnly(after: Array(steps.prefix(3))) == Self.reply("10.0.9.7"))
    }

    @Test func aProhibitedFlowIsAskedForAgainUnlessTheClientJustAskedForIt() {
        // The first probe's flow is new when the gateway prohibits it: the client does not ask again within 2 s,
        // so the next probe asks anew, after the filter change, and site B's gateway serves it with the new filter.
        let steps: [Step] = [
            .upsert(slot: 2, sites: .both, filters: 1), .send(.address(2), .tcp(port: 443)),
            .setGatewayOnline(0, false), .upsert(slot: 2, sites: .both, filters: 3), .send(.address(2), .icmpEcho),
        ]
        #expect(Self.gatewayFiltersOnly(after: steps) == Self.reply("fd00:10::5"))
        // A flow asked for in an earlier step is asked for again at once: site A's gateway, offline, cannot take
        // it, site B's does, with the filter of the moment.
        let earlier: [Step] = [
            .upsert(slot: 2, sites: .both, filters: 1), .send(.address(2), .tcp(port: 80)),
            .setGatewayOnline(0, false), .upsert(slot: 2, sites: .both, filters: 3), .send(.address(2), .icmpEcho),
            .send(.address(2), .icmpEcho),
        ]
        #expect(Self.gatewayFiltersOnly(after: Array(earlier.dropLast())) == Self.prohibited("fd00:10::5"))
        #expect(Self.gatewayFiltersOnly(after: earlier) == Self.reply("fd00:10::5"))
    }

    @Test func theInternetResourceRefusesPrivateDestinationsWithNetworkUnreachable() {
        let active: [Step] = [.upsert(slot: 8, sites: .b, filters: 0), .setInternetResourceActive(true)]
        #expect(Self.expectation(after: active + [.send(.address(4), .icmpEcho)]) == Self.reply("8.8.4.4"))
        #expect(Self.expectation(after: active + [.send(.address(6), .icmpEcho)]) == Self.reply("2606:4700::1111"))
        #expect(Self.expectation(after: active + [.send(.address(5), .icmpEcho)]) == Self.unreachable("172.16.0.1"))
        let inactive = active + [.setInternetResourceActive(false), .send(.address(4), .icmpEcho)]
        #expect(Self.expectation(after: inactive) == .exactly(.nothing))
    }

    @Test func aDNSResourceNameIsAnsweredWithProxyIPsStableAcrossSessions() throws {
        var model = TunnelModel()
        let key = TunnelModel.ProxyKey(
            name: try DomainName("app.corp.test"),
            resource: ResourceID("dns-app"),
            version: .v4
        )
        #expect(
            Self.play(&model, [.upsert(slot: 4, sites: .a, filters: 0), .query(name: 0, ipv6: false, tcp: false)])
                == .proxyIPs(key)
        )
        let addresses = try #require(model.proxyIPs.first { $0.key == key }?.addresses)
        #expect(model.check(.answer(.addresses(addresses.reversed())), against: .proxyIPs(key)) == nil)
        Self.play(&model, [.restartClient])
        let other = [
            IPAddress("100.96.1.1")!, IPAddress("100.96.1.2")!, IPAddress("100.96.1.3")!, IPAddress("100.96.1.4")!,
        ]
        #expect(model.check(.answer(.addresses(other)), against: .proxyIPs(key)) != nil)
        #expect(model.check(.answer(.addresses(addresses)), against: .proxyIPs(key)) == nil)
    }

    @Test func proxyIPsAreFourOfTheFamilyAndNotAnotherNames() throws {
        var model = TunnelModel()
        Self.play(
            &model,
            [.upsert(slot: 5, sites: .a, filters: 0), .query(name: 0, ipv6: false, tcp: false)]
        )
        let taken = try #require(model.proxyIPs.first?.addresses)
        let web = TunnelModel.ProxyKey(
            name: try DomainName("web.corp.test"),
            resource: ResourceID("dns-corp"),
            version: .v4
        )
        #expect(model.check(.answer(.addresses(taken)), against: .proxyIPs(web)) != nil)
        #expect(model.check(.answer(.addresses(Array(taken.prefix(3)))), against: .proxyIPs(web)) != nil)
        let v6 = [IPAddress("fd00:2021:1111:8000::9")!] + taken.prefix(3)
        #expect(model.check(.answer(.addresses(v6)), against: .proxyIPs(web)) != nil)
    }

    @Test func theMostSpecificPatternAnswersAName() throws {
        let steps: [Step] = [
            .upsert(slot: 5, sites: .a, filters: 0), .upsert(slot: 4, sites: .a, filters: 0),
            .upsert(slot: 7, sites: .a, filters: 0),
        ]
        let app = Self.expectation(after: steps + [.query(name: 0, ipv6: false, tcp: true)])
        #expect(
            app
                == .proxyIPs(
                    .init(name: try DomainName("app.corp.test"), resource: ResourceID("dns-app"), version: .v4)
                )
        )
        let db = Self.expectation(after: steps + [.query(name: 2, ipv6: true, tcp: false)])
        #expect(
            db == .proxyIPs(.init(name: try DomainName("db1.corp.test"), resource: ResourceID("dns-db"), version: .v6))
        )
        let web = Self.expectation(after: steps + [.query(name: 1, ipv6: false, tcp: false)])
        #expect(
            web
                == .proxyIPs(
                    .init(name: try DomainName("web.corp.test"), resource: ResourceID("dns-corp"), version: .v4)
                )
        )
    }

    @Test func otherNamesAreAnsweredByTheUpstream() {
        #expect(
            Self.expectation(after: [.query(name: 6, ipv6: false, tcp: false)])
                == .exactly(.answer(.addresses([IPAddress("93.184.215.14")!])))
        )
        #expect(Self.expectation(after: [.query(name: 7, ipv6: true, tcp: true)]) == .exactly(.answer(.nxdomain)))
        // A resource's name while no resource matches it: the upstream's answer, here with no IPv6 address.
        #expect(
            Self.expectation(after: [.query(name: 1, ipv6: true, tcp: false)]) == .exactly(.answer(.addresses([])))
        )
    }

    @Test func aQueryWhoseUpstreamTheResourcesFiltersDenyIsServfailFromTheClient() {
        // The portal's upstream 10.0.0.53:53 lies in 10.0.0.0/24; filters 1 permit TCP 80 alone.
        let permitted: [Step] = [.setPortalUpstream(true), .upsert(slot: 0, sites: .a, filters: 0)]
        let query = Step.query(name: 6, ipv6: false, tcp: false)
        #expect(
            Self.expectation(after: permitted + [query])
                == .exactly(.answer(.addresses([IPAddress("93.184.215.14")!])))
        )
        let denied: [Step] = [.setPortalUpstream(true), .upsert(slot: 0, sites: .a, filters: 1)]
        #expect(Self.expectation(after: denied + [query]) == .exactly(.answer(.servfail)))
        #expect(
            Self.expectation(after: denied + [.query(name: 7, ipv6: false, tcp: true)]) == .exactly(.answer(.servfail))
        )
        // Connlib at Firezone 685acdac3a leaves the filters to the gateway, whose refusal comes back.
        #expect(Self.gatewayFiltersOnly(after: denied + [query]) == Self.prohibited("10.0.0.53"))
    }

    @Test func aProxyIPIsEchoedWhenTheGatewayResolvesTheNameElseUnreachable() {
        let corp: [Step] = [.upsert(slot: 5, sites: .b, filters: 0)]
        let app = corp + [.query(name: 0, ipv6: false, tcp: false), .send(.name(0, ipv6: false), .udp(port: 53))]
        #expect(Self.expectation(after: app) == Self.reply("100.96.0.1"))
        // web.corp.test has no IPv6 address, gone.corp.test none at all.
        let web = corp + [.query(name: 1, ipv6: true, tcp: false), .send(.name(1, ipv6: true), .icmpEcho)]
        #expect(Self.expectation(after: web) == Self.unreachable("fd00:2021:1111:8000::1"))
        // gone.corp.test does not resolve: the first packet is dropped with the failed mapping, later ones reach
        // the gateway, which has no mapping for them; a new answer asks the gateway again.
        let gone = corp + [.query(name: 5, ipv6: false, tcp: false), .send(.name(5, ipv6: false), .icmpEcho)]
        #expect(Self.expectation(after: gone) == .exactly(.nothing))
        let again = gone + [.send(.name(5, ipv6: false), .icmpEcho)]
        #expect(Self.expectation(after: again) == Self.unreachable("100.96.0.1"))
        let requery = again + [.query(name: 5, ipv6: false, tcp: false), .send(.name(5, ipv6: false), .icmpEcho)]
        #expect(Self.expectation(after: requery) == .exactly(.nothing))
    }

    @Test func aProxyIPRoutesOnlyAfterAnAnswerInThisSession() {
        let answered: [Step] = [.upsert(slot: 4, sites: .a, filters: 0), .query(name: 0, ipv6: false, tcp: false)]
        #expect(Self.expectation(after: answered + [.send(.name(0, ipv6: false), .icmpEcho)]) != nil)
        #expect(Self.expectation(after: answered + [.restartClient, .send(.name(0, ipv6: false), .icmpEcho)]) == nil)
        #expect(
            Self.expectation(
                after: answered + [
                    .remove(slot: 4), .upsert(slot: 4, sites: .a, filters: 0),
                    .send(.name(0, ipv6: false), .icmpEcho),
                ]
            ) == nil
        )
    }
}
