import FirezoneTesting
import IPPacket
import NIOCore
import Testing

struct IPPacketRewriteTests {
    @Test(arguments: [Vectors.udp4, Vectors.tcp4, Vectors.icmp4])
    func sourceNATOverIPv4KeepsChecksumsValid(vector: String) throws {
        var packet = try IPPacket(buffer(hex: vector))
        try packet.translateSource(to: ip("100.64.7.9"), port: 61000)
        #expect(packet.source == ip("100.64.7.9"))
        #expect(try packet.sourceProtocol().value == 61000)
        #expect(packet.hasValidChecksums)
        #expect(packet == recomputed(packet))
    }

    @Test(arguments: [Vectors.udp6, Vectors.tcp6, Vectors.icmp6])
    func destinationNATOverIPv6KeepsChecksumsValid(vector: String) throws {
        var packet = try IPPacket(buffer(hex: vector))
        try packet.translateDestination(to: ip("fd00:2021:1111:8000::17"), port: 8080)
        #expect(packet.destination == ip("fd00:2021:1111:8000::17"))
        #expect(try packet.destinationProtocol().value == 8080)
        #expect(packet.hasValidChecksums)
        #expect(packet == recomputed(packet))
    }

    @Test func anICMPEchoHasOneIdentifierForBothDirections() throws {
        var packet = try IPPacket(buffer(hex: Vectors.icmp4))
        try packet.setDestinationProtocol(0xBEEF)
        #expect(try packet.sourceProtocol() == .icmpEcho(identifier: 0xBEEF))
        #expect(packet.icmp?.sequenceNumber == 1)
        #expect(packet.hasValidChecksums)
    }

    @Test func aPacketWithoutPortsRefusesPortRewrites() throws {
        let original = try IPPacket(buffer(hex: Vectors.icmp4))
        let unreachable = IPPacket.makeICMPDestinationUnreachable(for: original, reason: .networkUnreachable)
        var packet = unreachable
        let error = #expect(throws: IPPacketError.self) { try packet.setSourceProtocol(1) }
        #expect(error?.reason == .noPortOrIdentifier(.icmp))
        #expect(packet == unreachable)
    }

    /// RFC 768: zero means the sender computed no checksum; rewriting must not invent one.
    @Test func anIPv4UDPChecksumOfZeroStaysZero() throws {
        var bytes = buffer(hex: Vectors.udp4)
        bytes.setInteger(UInt16(0), at: 26)
        var packet = try IPPacket(bytes)
        try packet.translateSource(to: ip("1.2.3.4"), port: 9)
        try packet.translateDestination(to: ip("5.6.7.8"), port: 10)
        #expect(packet.udp?.checksum == 0)
        #expect(packet.hasValidChecksums)
    }

    /// RFC 768: a computed UDP checksum of zero is sent as all ones, by full and incremental computation alike.
    @Test func aUDPChecksumThatComputesToZeroIsSentAsAllOnes() throws {
        var packet = try IPPacket.makeUDP(
            source: ip("10.0.0.1"),
            sourcePort: 1,
            destination: ip("10.0.0.2"),
            destinationPort: 2,
            payload: ByteBuffer(bytes: [0, 0])
        )
        // Choose the payload word that makes the sum all ones, so that the checksum computes to zero.
        let current = try #require(packet.udp?.checksum)
        var bytes = packet.buffer
        bytes.setInteger(current, at: 28)
        packet = try IPPacket(bytes)
        packet.computeChecksums()
        #expect(packet.udp?.checksum == 0xFFFF)
        #expect(packet.hasValidChecksums)

        // Changing the port and back must land on the same all-ones value.
        try packet.setSourceProtocol(77)
        try packet.setSourceProtocol(1)
        #expect(packet.udp?.checksum == 0xFFFF)
    }

    @Test(arguments: ECN.allCases)
    func setsECNInBothVersions(ecn: ECN) throws {
        for vector in [Vectors.tcp4, Vectors.tcp6] {
            var packet = try IPPacket(buffer(hex: vector))
            packet.setECN(ecn)
            #expect(packet.ecn == ecn)
            #expect(packet.hasValidChecksums)
            #expect(packet.tcp?.sequenceNumber == (packet.version == .v4 ? 0x0102_0304 : 7))
        }
    }

    /// RFC 6040 normal mode: CE on the outer header marks an ECN-capable inner packet; nothing else changes it.
    @Test(arguments: ECN.allCases, ECN.allCases)
    func appliesTheOuterECNOnlyAsCongestionExperienced(inner: ECN, outer: ECN) throws {
        var packet = try IPPacket(buffer(hex: Vectors.udp4))
        packet.setECN(inner)
        packet.applyECN(fromTransport: outer)
        let expected: ECN = (outer == .ce && (inner == .ect0 || inner == .ect1)) ? .ce : inner
        #expect(packet.ecn == expected)
        #expect(packet.hasValidChecksums)
    }

    @Test func computeChecksumsRepairsCorruptedChecksums() throws {
        var bytes = buffer(hex: Vectors.tcp4)
        bytes.setInteger(UInt16(0xDEAD), at: 10)
        bytes.setInteger(UInt16(0xBEEF), at: 36)
        var packet = try IPPacket(bytes)
        #expect(!packet.hasValidChecksums)
        packet.computeChecksums()
        #expect(hex(packet.buffer) == Vectors.tcp4)
    }

    // MARK: Found by the ip-packet fuzz target (tests/fuzz/corpus/ip-packet/regression-*)

    /// An ICMPv4 echo reply whose message is all zeros but for the checksum (0xFFFF). Setting its identifier and
    /// setting it back to zero makes the data all zeros again, where the RFC 1624 update gives 0x0000 and a full
    /// computation 0xFFFF (`regression-icmpv4-all-zero-identifier-rewrite`: this packet, script `02 1234 02 0000`).
    @Test func anICMPv4MessageRewrittenToAllZerosGetsTheChecksumOfAFullComputation() throws {
        var packet = try IPPacket(buffer(hex: "4500001c1c4600004001f0250a000035644000010000ffff00000000"))
        #expect(packet.hasValidChecksums)
        try packet.setSourceProtocol(0x1234)
        try packet.setSourceProtocol(0x0000)
        #expect(packet.icmp?.checksum == 0xFFFF)
        #expect(packet.hasValidChecksums)
        #expect(packet == recomputed(packet))
    }

    /// A protocol-0xFF packet with a 2-byte payload whose addresses both become `::` is a control packet without
    /// the 8-byte control header, which construction would reject: the control message reads as absent rather than
    /// reading past the packet (`regression-protocol-255-rewritten-to-control`: this packet, script `09 00 0a 00`).
    @Test func aShortProtocol255PacketRewrittenToAControlPacketHasNoControlMessage() throws {
        var packet = try IPPacket(
            buffer(hex: "600123450002ff40fd00202111110000000000000000000120010db80000000000000000000000530200")
        )
        #expect(!packet.isFZP2PControl)
        packet.setSource(.v6(.unspecified))
        packet.setDestination(.v6(.unspecified))
        #expect(packet.isFZP2PControl)
        #expect(packet.fzP2PControl == nil)
        #expect(throws: IPPacketError.self) { try IPPacket(packet.buffer) }
        #expect(parseReason(packet.buffer) == .truncatedP2PControlHeader(length: 2))
    }
}

private func parseReason(_ bytes: ByteBuffer) -> IPPacketError.Reason? {
    do {
        _ = try IPPacket(bytes)
        return nil
    } catch {
        return error.reason
    }
}

/// A copy of `packet` whose checksums were computed from scratch.
func recomputed(_ packet: IPPacket) -> IPPacket {
    var copy = try! IPPacket(ByteBuffer(bytes: Array(packet.buffer.readableBytesView)))
    copy.computeChecksums()
    return copy
}
