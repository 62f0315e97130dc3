import ConnlibCore
import IPPacket
import NIOCore
import PortalMessages
import Snownet
import Testing

/// The gateway's data path works in the caller's storage and hands it back on every path: a shell hands over its
/// receive buffers as they are, writes or sends from them, and reads into them again once the call returns.
@Suite struct GatewayStateStorageTests {
    static func storage(of buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withVeryUnsafeBytes { UnsafeRawPointer($0.baseAddress) }
    }

    /// `packet` in a buffer of its own with the room snownet seals in, as the driver's TUN regions have it.
    static func roomy(_ packet: IPPacket) -> ByteBuffer {
        packet.copy(headroom: NodeConstants.headroom, tailroom: NodeConstants.tailroom).intoBuffer()
    }

    static func connected(seed: UInt64) throws -> GatewayScenario {
        var scenario = GatewayScenario(seed: seed)
        let connected = try scenario.connect(GatewayStateTests.cidr)
        try #require(connected, "\(scenario.report())")
        return scenario
    }

    @Test func aResourcesPacketIsSealedInTheCallersStorage() throws {
        var scenario = try Self.connected(seed: 40)
        let reply = GatewayStateTests.reply(from: GatewayScenario.resourceAddress, port: 80)
        var buffer = Self.roomy(reply)
        let storage = Self.storage(of: buffer)
        let sent = scenario.withGateway { state, now in state.handleTUNInput(&buffer, now: now) }
        let destination = try #require(sent)
        #expect(Self.storage(of: buffer) == storage)
        // The client opens what left from there.
        let gatewaySocket = scenario.gateway.socket
        let opened = scenario.simulation.withNode(GatewayScenario.client, as: ClientHost.self) { host, now in
            host.change { node in
                try? node.decapsulate(
                    &buffer,
                    from: destination.source ?? gatewaySocket,
                    local: destination.destination,
                    now: now
                )
            }
        }
        #expect(opened == GatewayScenario.gatewayConnection)
        #expect(try IPPacket(buffer) == reply)
    }

    @Test func aClientsDatagramIsOpenedInTheCallersStorage() throws {
        var scenario = try Self.connected(seed: 41)
        let packet = GatewayStateTests.tcp(to: GatewayScenario.resourceAddress, port: 80)
        var buffer = Self.roomy(packet)
        let sealed = scenario.simulation.withNode(GatewayScenario.client, as: ClientHost.self) { host, now in
            host.change { node in try? node.encapsulate(&buffer, for: GatewayScenario.gatewayConnection, now: now) }
        }
        let destination = try #require(sealed ?? nil)
        let storage = Self.storage(of: buffer)
        let source = destination.source ?? scenario.client.socket
        let forwarded = scenario.withGateway { state, now in
            state.handleNetworkInput(&buffer, from: source, local: destination.destination, now: now)
        }
        let opened = try #require(forwarded)
        #expect(opened == packet)
        #expect(Self.storage(of: opened.buffer) == storage)
        #expect(Self.storage(of: buffer) == storage)
    }

    @Test func aPacketToAProxyAddressIsTranslatedInTheCallersStorage() throws {
        var scenario = GatewayScenario(seed: 43)
        let connected = try scenario.connect(GatewayStateTests.dns)
        try #require(connected, "\(scenario.report())")
        let proxies: [IPAddress] = (1...4).map { .v4(IPv4Address(100, 96, 0, UInt8($0))) }
        scenario.clientSends(
            try P2PControlMessage.assignedIPs(
                resource: GatewayScenario.dnsResource,
                domain: "app.corp.example",
                proxyIPs: proxies
            ).makePacket()
        )
        scenario.run(for: .milliseconds(200))
        let request = DNSResolutionRequest(
            client: GatewayScenario.clientID,
            resource: GatewayScenario.dnsResource,
            domain: try DomainName("app.corp.example")
        )
        scenario.withGateway { state, now in
            state.handleDomainResolved(request, addresses: [IPAddress("10.9.9.9")!], now: now)
        }
        scenario.run(for: .milliseconds(200))
        var buffer = Self.roomy(GatewayStateTests.tcp(to: proxies[0], port: 443))
        let sealed = scenario.simulation.withNode(GatewayScenario.client, as: ClientHost.self) { host, now in
            host.change { node in try? node.encapsulate(&buffer, for: GatewayScenario.gatewayConnection, now: now) }
        }
        let destination = try #require(sealed ?? nil)
        let storage = Self.storage(of: buffer)
        let source = destination.source ?? scenario.client.socket
        let forwarded = scenario.withGateway { state, now in
            state.handleNetworkInput(&buffer, from: source, local: destination.destination, now: now)
        }
        let translated = try #require(forwarded, "\(scenario.gateway.state.stats)")
        #expect(translated.destination == IPAddress("10.9.9.9"))
        #expect(Self.storage(of: translated.buffer) == storage)
        #expect(Self.storage(of: buffer) == storage)
    }

    @Test func aRefusedPacketLeavesItsStorageWithTheCaller() throws {
        var scenario = try Self.connected(seed: 42)
        // From an address of no resource the client may use: refused after the NAT looked at it.
        let stray = GatewayStateTests.reply(from: IPAddress("10.99.0.1")!, port: 80)
        var buffer = Self.roomy(stray)
        let storage = Self.storage(of: buffer)
        let sent = scenario.withGateway { state, now in state.handleTUNInput(&buffer, now: now) }
        #expect(sent == nil)
        #expect(scenario.gateway.state.stats[.unauthorizedSource] == 1)
        #expect(Self.storage(of: buffer) == storage)
        #expect(try IPPacket(buffer) == stray)
    }
}
