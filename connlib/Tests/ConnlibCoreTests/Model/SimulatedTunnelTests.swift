import ConnlibCore
import IPPacket
import Testing

/// The harness's network: the NAT routers it draws are real obstacles, which the tunnel gets through as Firezone's
/// does (ICE with server-reflexive and relayed candidates).
@Suite struct SimulatedTunnelTests {
    static let resource = TunnelWorld.resource(slot: 0, sites: [TunnelWorld.sites[0]], filters: [])
    static let probe = TunnelAction.send(destination: TunnelWorld.targets[0], .icmpEcho(identifier: 7))

    @Test func aProbeCrossesTwoSymmetricNATsThroughTheRelay() {
        var tunnel = SimulatedTunnel(seed: 1, placements: [.symmetric, .symmetric, .symmetric])
        _ = tunnel.perform(.upsertResource(Self.resource, allowed: true))
        // The packet waits for the flow and the connection, then goes.
        let observed = tunnel.perform(Self.probe)
        #expect(observed == .packet(.reply(from: TunnelWorld.targets[0])), "\(tunnel.report)")
    }

    @Test func aClientThatRoamsBehindAnotherNATReachesTheResourceAgain() {
        var tunnel = SimulatedTunnel(seed: 2, placements: [.portRestrictedCone, .symmetric, .symmetric])
        _ = tunnel.perform(.upsertResource(Self.resource, allowed: true))
        #expect(tunnel.perform(Self.probe) == .packet(.reply(from: TunnelWorld.targets[0])), "\(tunnel.report)")
        _ = tunnel.perform(.roam)
        #expect(tunnel.perform(Self.probe) == .packet(.reply(from: TunnelWorld.targets[0])), "\(tunnel.report)")
    }
}

extension SimulatedTunnelTests {
    /// A gateway that rejoins the portal gets, in its `init`, new credentials for the relay it already uses: it
    /// deletes its allocation with the credentials that made it (our relay refuses any other username, RFC 8656 §5)
    /// and allocates again from the same socket at once. Behind symmetric NATs on both sides only that relayed
    /// candidate connects a new flow.
    @Test func aGatewayThatRejoinsThePortalServesANewFlowBehindSymmetricNATs() {
        var tunnel = SimulatedTunnel(seed: 3, placements: [.symmetric, .publicInternet, .symmetric])
        _ = tunnel.perform(.setGatewayOnline(TunnelWorld.gateways[1], false))
        _ = tunnel.perform(.setGatewayOnline(TunnelWorld.gateways[1], true))
        let resource = TunnelWorld.resource(slot: 2, sites: [TunnelWorld.sites[1]], filters: [])
        _ = tunnel.perform(.upsertResource(resource, allowed: true))
        let observed = tunnel.perform(.send(destination: TunnelWorld.targets[2], .udp(port: 53)))
        #expect(observed == .packet(.reply(from: TunnelWorld.targets[2])), "\(tunnel.report)")
    }
}
