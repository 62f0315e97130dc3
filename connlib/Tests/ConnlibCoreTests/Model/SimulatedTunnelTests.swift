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
