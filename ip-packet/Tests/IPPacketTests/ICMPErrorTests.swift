import FirezoneTesting
import IPPacket
import NIOCore
import Testing

struct ICMPErrorTests {
    /// As Firezone's connlib (rust/connlib/tunnel) sends them: prohibited is ICMPv4 3/13 and ICMPv6 1/1; network unreachable ICMPv4 3/0 and ICMPv6 1/3.
    @Test(arguments: [
        (Vectors.udp4, DestinationUnreachableReason.administrativelyProhibited, ICMPError.v4Unreachable(code: 13)),
        (Vectors.tcp4, .networkUnreachable, .v4Unreachable(code: 0)),
        (Vectors.udp6, .administrativelyProhibited, .v6Unreachable(code: 1)),
        (Vectors.tcp6, .networkUnreachable, .v6Unreachable(code: 3)),
    ])
    func buildsAndParsesDestinationUnreachable(
        vector: String,
        reason: DestinationUnreachableReason,
        expected: ICMPError
    ) throws {
        let original = try IPPacket(buffer(hex: vector))
        let unreachable = try IPPacket(
            IPPacket.makeICMPDestinationUnreachable(for: original, reason: reason).buffer
        )
        #expect(unreachable.source == original.destination)
        #expect(unreachable.destination == original.source)
        #expect(unreachable.hopLimit == 20)
        #expect(unreachable.hasValidChecksums)

        let (error, failed) = try #require(try unreachable.icmpError())
        #expect(error == expected)
        #expect(failed.source == original.source && failed.destination == original.destination)
        #expect(failed.ipProtocol == original.ipProtocol)
        #expect(failed.sourceProtocol == (try original.sourceProtocol()))
        #expect(failed.destinationProtocol == (try original.destinationProtocol()))
    }

    @Test func ipv4QuotesTheHeaderAndEightBytes() throws {
        let original = try IPPacket(buffer(hex: Vectors.tcp4))
        let unreachable = IPPacket.makeICMPDestinationUnreachable(for: original, reason: .networkUnreachable)
        let (_, failed) = try #require(try unreachable.icmpError())
        #expect(failed.packet.readableBytes == 28)
        #expect(failed.packet == original.buffer.getSlice(at: 0, length: 28))
    }

    @Test func ipv6QuotesAsMuchAsFitsTheMinimumMTU() throws {
        let large = try IPPacket.makeUDP(
            source: ip("fd00::1"),
            sourcePort: 1,
            destination: ip("fd00::2"),
            destinationPort: 2,
            payload: ByteBuffer(repeating: 7, count: 1280 - 48)
        )
        let unreachable = IPPacket.makeICMPDestinationUnreachable(for: large, reason: .administrativelyProhibited)
        #expect(unreachable.length == 1280)
        let (_, failed) = try #require(try unreachable.icmpError())
        #expect(failed.packet.readableBytes == 1280 - 48)

        let small = try IPPacket(buffer(hex: Vectors.udp6))
        let quoted = IPPacket.makeICMPDestinationUnreachable(for: small, reason: .administrativelyProhibited)
        #expect(try quoted.icmpError()?.1.packet == small.buffer)
    }

    @Test func quotesTheIdentifierOfAnEcho() throws {
        let echo = try IPPacket(buffer(hex: Vectors.icmp6))
        let unreachable = IPPacket.makeICMPDestinationUnreachable(for: echo, reason: .networkUnreachable)
        let (_, failed) = try #require(try unreachable.icmpError())
        #expect(failed.sourceProtocol == .icmpEcho(identifier: 0x1234))
    }

    /// RFC 4443 §3.2: packet too big carries the MTU in place of the unused field.
    @Test func parsesPacketTooBigWithItsMTU() throws {
        let original = try IPPacket(buffer(hex: Vectors.tcp6))
        var bytes = IPPacket.makeICMPDestinationUnreachable(for: original, reason: .networkUnreachable).buffer
        bytes.setInteger(UInt8(2), at: 40)  // type: packet too big
        bytes.setInteger(UInt8(0), at: 41)
        bytes.setInteger(UInt32(1280), at: 44)
        var packet = try IPPacket(bytes)
        packet.computeChecksums()
        #expect(try packet.icmpError()?.0 == .v6PacketTooBig(mtu: 1280))
    }

    @Test func parsesTimeExceeded() throws {
        let original = try IPPacket(buffer(hex: Vectors.udp4))
        var bytes = IPPacket.makeICMPDestinationUnreachable(for: original, reason: .networkUnreachable).buffer
        bytes.setInteger(UInt8(11), at: 20)
        #expect(try IPPacket(bytes).icmpError()?.0 == .v4TimeExceeded(code: 0))
    }

    @Test func anEchoIsNotAnError() throws {
        #expect(try IPPacket(buffer(hex: Vectors.icmp4)).icmpError() == nil)
        #expect(try IPPacket(buffer(hex: Vectors.udp4)).icmpError() == nil)
    }

    @Test func rejectsAQuoteOfTheWrongVersionOrLength() throws {
        func unreachable(quoting quote: [UInt8]) throws -> IPPacket {
            var bytes = ByteBuffer(bytes: [0x45, 0])
            bytes.writeInteger(UInt16(28 + quote.count))
            bytes.writeBytes([0, 0, 0, 0, 20, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 3, 0, 0, 0, 0, 0, 0, 0])
            bytes.writeBytes(quote)
            return try IPPacket(bytes)
        }
        #expect(throws: IPPacketError.self) { try unreachable(quoting: []).icmpError() }
        #expect(throws: IPPacketError.self) {
            try unreachable(quoting: [0x60] + Array(repeating: 0, count: 39)).icmpError()
        }
        #expect(throws: IPPacketError.self) {
            try unreachable(quoting: [0x45] + Array(repeating: 0, count: 10)).icmpError()
        }
        #expect(throws: IPPacketError.self) {
            try unreachable(quoting: [0x46] + Array(repeating: 0, count: 19)).icmpError()
        }
        // A quote too short for ports still names addresses, without ports.
        let failed = try #require(
            try unreachable(quoting: [0x45] + Array(repeating: 0, count: 8) + [17] + Array(repeating: 0, count: 10))
                .icmpError()?.1
        )
        #expect(failed.ipProtocol == .udp && failed.sourceProtocol == nil)
    }
}
