import ConnlibCore
import IPPacket
import NIOCore
import Snownet
import Testing

/// The client's data path works in the caller's storage and hands it back on every path, and what it keeps for later
/// it copies: a shell hands over its receive buffers as they are, and reads into them again once the call returns.
@Suite struct ClientStateStorageTests {
    static func storage(of buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withVeryUnsafeBytes { UnsafeRawPointer($0.baseAddress) }
    }

    /// `packet` in a buffer of its own with the room snownet seals in, as the driver's TUN regions have it.
    static func roomy(_ packet: IPPacket) -> ByteBuffer {
        packet.copy(headroom: NodeConstants.headroom, tailroom: NodeConstants.tailroom).intoBuffer()
    }

    @Test func aPacketWaitingForItsFlowIsKeptAsACopy() throws {
        var harness = ClientHarness()
        var buffer = Self.roomy(try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "first"))
        let bytes = buffer.withUnsafeMutableReadableBytes { $0 }
        #expect(harness.client.handleTunInput(&buffer, now: harness.clock.now) == nil)
        // The next read lands in the same storage, as read(2) writes it: behind the buffer's back.
        bytes.initializeMemory(as: UInt8.self, repeating: 0xEE)
        harness.deliver()
        try harness.authorize(ClientHarness.cidrResource.id)
        harness.run(for: .seconds(3))
        #expect(harness.gatewayPayloads == ["first"])
    }

    @Test func anEstablishedFlowsPacketIsSealedInTheCallersStorage() throws {
        var harness = try ClientStateConnectionTests.established()
        let packet = try ClientHarness.udp(to: ClientHarness.lanHost(), payload: "second")
        var buffer = Self.roomy(packet)
        let storage = Self.storage(of: buffer)
        let destination = try #require(harness.client.handleTunInput(&buffer, now: harness.clock.now))
        #expect(Self.storage(of: buffer) == storage)
        #expect(destination.destination == ClientHarness.gatewaySocket)
        let opened = try harness.gateway.decapsulate(
            &buffer,
            from: destination.source ?? ClientHarness.clientSocket,
            local: destination.destination,
            now: harness.clock.now
        )
        #expect(opened == ClientHarness.clientID)
        #expect(try IPPacket(buffer) == packet)
    }

    @Test func aGatewaysDatagramIsOpenedInTheCallersStorage() throws {
        var harness = try ClientStateConnectionTests.established()
        let packet = try ClientHarness.udp(
            from: ClientHarness.lanHost(),
            to: .v4(ClientHarness.clientTunV4),
            payload: "reply"
        )
        var buffer = Self.roomy(packet)
        let destination = try #require(
            try harness.gateway.encapsulate(&buffer, for: ClientHarness.clientID, now: harness.clock.now)
        )
        let storage = Self.storage(of: buffer)
        let delivered = harness.client.handleNetworkInput(
            &buffer,
            from: destination.source ?? ClientHarness.gatewaySocket,
            local: destination.destination,
            now: harness.clock.now
        )
        let opened = try #require(delivered)
        #expect(opened == packet)
        #expect(Self.storage(of: opened.buffer) == storage)
        #expect(Self.storage(of: buffer) == storage)
    }
}
