import FirezoneTesting
import IPPacket
import NIOCore
import Testing

/// Every way bytes can fail to be a packet we accept, each with its typed reason.
struct IPPacketValidationTests {
    @Test(arguments: [Vectors.udp4, Vectors.udp6, Vectors.tcp4, Vectors.tcp6, Vectors.icmp4, Vectors.icmp6])
    func acceptsTheVectors(vector: String) throws {
        let packet = try IPPacket(buffer(hex: vector))
        #expect(packet.hasValidChecksums)
    }

    @Test func rejectsAnEmptyBuffer() {
        #expect(throws: IPPacketError(.empty)) { try IPPacket(ByteBuffer()) }
    }

    @Test func rejectsPacketsLongerThanTheMTU() throws {
        let payload = ByteBuffer(repeating: 0, count: 1280 - 28)
        let largest = try IPPacket.makeUDP(
            source: ip("10.0.0.1"),
            sourcePort: 1,
            destination: ip("10.0.0.2"),
            destinationPort: 2,
            payload: payload
        )
        #expect(largest.length == 1280)

        var tooLong = largest.buffer
        tooLong.writeInteger(UInt8(0))
        #expect(throws: IPPacketError(.tooLong(length: 1281))) { try IPPacket(tooLong) }
    }

    @Test(arguments: [0x00, 0x50, 0x70, 0xF0] as [UInt8])
    func rejectsUnsupportedVersions(firstByte: UInt8) {
        #expect(throws: IPPacketError(.unsupportedVersion(firstByte >> 4))) {
            try IPPacket(ByteBuffer(bytes: [firstByte] + Array(repeating: 0, count: 39)))
        }
    }

    @Test func rejectsTruncatedIPHeaders() {
        #expect(throws: IPPacketError(.truncatedIPHeader(version: .v4, length: 19))) {
            try IPPacket(ByteBuffer(bytes: [0x45] + Array(repeating: 0, count: 18)))
        }
        #expect(throws: IPPacketError(.truncatedIPHeader(version: .v6, length: 39))) {
            try IPPacket(ByteBuffer(bytes: [0x60] + Array(repeating: 0, count: 38)))
        }
    }

    @Test(arguments: [0x44, 0x40, 0x4F] as [UInt8])
    func rejectsAnIPv4HeaderLengthOutsideThePacket(firstByte: UInt8) {
        var bytes = buffer(hex: Vectors.udp4)
        bytes.setInteger(firstByte, at: 0)
        #expect(reason(bytes) == .invalidIPv4HeaderLength(words: firstByte & 0x0F))
    }

    @Test func rejectsAnIPv4TotalLengthThatDiffersFromThePacket() {
        var bytes = buffer(hex: Vectors.udp4)
        bytes.setInteger(UInt16(0x22), at: 2)
        #expect(reason(bytes) == .totalLengthMismatch(declared: 0x22, actual: 0x21))
    }

    @Test(arguments: [0x2000, 0x0001, 0x3FFF] as [UInt16])
    func rejectsIPv4Fragments(flagsAndOffset: UInt16) {
        var bytes = buffer(hex: Vectors.udp4)
        bytes.setInteger(flagsAndOffset, at: 6)
        #expect(reason(bytes) == .fragmented)
    }

    @Test func acceptsDontFragment() throws {
        var bytes = buffer(hex: Vectors.udp4)
        bytes.setInteger(UInt16(0x4000), at: 6)
        _ = try IPPacket(bytes)
    }

    @Test func rejectsAnIPv6PayloadLengthThatDiffersFromThePacket() {
        var bytes = buffer(hex: Vectors.udp6)
        bytes.setInteger(UInt16(12), at: 4)
        #expect(reason(bytes) == .payloadLengthMismatch(declared: 12, actual: 13))
    }

    @Test func rejectsTheIPv6FragmentHeader() {
        #expect(reason(ipv6(extensionHeaders: [(44, 8)], upperLayer: 17, upperLayerBytes: udpSegment())) == .fragmented)
    }

    @Test func walksIPv6ExtensionHeadersToTheUpperLayer() throws {
        let bytes = ipv6(extensionHeaders: [(0, 8), (60, 16), (43, 8)], upperLayer: 17, upperLayerBytes: udpSegment())
        let packet = try IPPacket(bytes)
        #expect(packet.ipProtocol == .udp)
        #expect(packet.transportOffset == 40 + 32)
        #expect(try packet.destinationProtocol() == .udp(port: 53))
    }

    @Test func rejectsTruncatedAndExcessiveIPv6ExtensionHeaders() {
        // The destination options header claims 16 bytes but 8 remain.
        var truncated = ipv6(extensionHeaders: [(60, 8)], upperLayer: 17, upperLayerBytes: [])
        truncated.setInteger(UInt8(1), at: 40 + 1)
        #expect(reason(truncated) == .truncatedExtensionHeader(.ipv6DestinationOptions))

        let chain = Array(repeating: (UInt8(60), 8), count: 9)
        #expect(
            reason(ipv6(extensionHeaders: chain, upperLayer: 17, upperLayerBytes: udpSegment()))
                == .tooManyExtensionHeaders
        )
    }

    @Test func rejectsTruncatedTransportHeaders() {
        #expect(
            reason(ipv4(protocol: 17, transport: [0, 1, 0, 2, 0, 7, 0])) == .truncatedTransportHeader(.udp, length: 7)
        )
        #expect(
            reason(ipv4(protocol: 6, transport: Array(repeating: 0, count: 19)))
                == .truncatedTransportHeader(.tcp, length: 19)
        )
        #expect(
            reason(ipv4(protocol: 1, transport: [8, 0, 0, 0, 0, 0, 0])) == .truncatedTransportHeader(.icmp, length: 7)
        )
    }

    @Test func rejectsAUDPLengthThatDiffersFromTheSegment() {
        var bytes = buffer(hex: Vectors.udp4)
        bytes.setInteger(UInt16(12), at: 24)
        #expect(reason(bytes) == .udpLengthMismatch(declared: 12, actual: 13))
    }

    @Test(arguments: [0x40, 0x70] as [UInt8])
    func rejectsATCPDataOffsetOutsideTheSegment(offsetByte: UInt8) {
        var bytes = buffer(hex: Vectors.tcp4)
        bytes.setInteger(offsetByte, at: 32)
        #expect(reason(bytes) == .invalidTCPDataOffset(words: offsetByte >> 4, segmentLength: 24))
    }

    @Test func rejectsICMPInTheWrongIPVersion() {
        #expect(
            reason(ipv4(protocol: 58, transport: Array(repeating: 0, count: 8))) == .icmpVersionMismatch(.icmpv6, .v4)
        )
        var icmpInIPv6 = buffer(hex: Vectors.icmp6)
        icmpInIPv6.setInteger(UInt8(1), at: 6)
        #expect(reason(icmpInIPv6) == .icmpVersionMismatch(.icmp, .v6))
    }

    @Test func rejectsAP2PControlPacketShorterThanItsHeader() {
        var bytes = ipv6(extensionHeaders: [], upperLayer: 0xFF, upperLayerBytes: [2, 0, 0, 0, 0, 0, 0])
        bytes.setRepeatingByte(0, count: 32, at: 8)
        #expect(reason(bytes) == .truncatedP2PControlHeader(length: 7))
    }

    @Test func carriesOtherProtocolsOpaque() throws {
        let packet = try IPPacket(ipv4(protocol: 47, transport: [1, 2, 3]))  // GRE
        #expect(packet.ipProtocol == IPProtocol(rawValue: 47))
        #expect(hex(packet.payload) == "010203")
        #expect(throws: IPPacketError.self) { try packet.sourceProtocol() }
    }

    /// Firezone #10337: a parse error names the addresses and shows the transport header.
    @Test func errorsCarryAddressesAndTheTransportHeader() throws {
        var bytes = buffer(hex: Vectors.udp4)
        bytes.setInteger(UInt16(12), at: 24)
        let error = try #require(parseError(bytes))
        #expect(error.source == ip("10.0.0.1"))
        #expect(error.destination == ip("10.0.0.2"))
        #expect(error.ipProtocol == .udp)
        #expect(error.transportHeader.map(hex) == "04d20035000ca2f868656c6c6f")
        #expect(
            error.description
                == "UDP length 12 does not match the segment length 13 (src 10.0.0.1, dst 10.0.0.2, udp, "
                + "transport header 04d20035000ca2f868656c6c6f)"
        )
    }

    @Test func everyTruncationOfAValidPacketIsRejectedWithoutACrash() {
        for vector in [Vectors.udp4, Vectors.udp6, Vectors.tcp4, Vectors.tcp6, Vectors.icmp4, Vectors.icmp6] {
            let whole = buffer(hex: vector)
            for length in 0..<whole.readableBytes {
                #expect(throws: IPPacketError.self) { try IPPacket(whole.getSlice(at: 0, length: length)!) }
            }
        }
    }

    @Test func parsesFromABufferThatDoesNotStartAtIndexZero() throws {
        var framed = ByteBuffer(bytes: [0xAA, 0xBB, 0xCC, 0xDD])
        framed.writeImmutableBuffer(buffer(hex: Vectors.tcp4))
        framed.moveReaderIndex(forwardBy: 4)
        var packet = try IPPacket(framed)
        #expect(packet.source == ip("192.168.1.10"))
        try packet.translateSource(to: ip("10.1.1.1"), port: 1)
        #expect(packet.hasValidChecksums)
    }
}

// MARK: Helpers

private func parseError(_ bytes: ByteBuffer) -> IPPacketError? {
    do {
        _ = try IPPacket(bytes)
        return nil
    } catch {
        return error
    }
}

private func reason(_ bytes: ByteBuffer) -> IPPacketError.Reason? {
    parseError(bytes)?.reason
}

private func udpSegment() -> [UInt8] {
    [0x04, 0xD2, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00]
}

private func ipv4(protocol number: UInt8, transport: [UInt8]) -> ByteBuffer {
    var bytes = ByteBuffer(bytes: [0x45, 0])
    bytes.writeInteger(UInt16(20 + transport.count))
    bytes.writeBytes([0, 0, 0, 0, 64, number, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    bytes.writeBytes(transport)
    return bytes
}

/// An IPv6 packet from fd00::1 to fd00::2 with the given extension headers (type, length in bytes).
private func ipv6(extensionHeaders: [(UInt8, Int)], upperLayer: UInt8, upperLayerBytes: [UInt8]) -> ByteBuffer {
    var chain: [UInt8] = []
    for (index, header) in extensionHeaders.enumerated() {
        let next = index + 1 < extensionHeaders.count ? extensionHeaders[index + 1].0 : upperLayer
        chain += [next, UInt8(header.1 / 8 - 1)] + Array(repeating: 0, count: header.1 - 2)
    }
    var bytes = ByteBuffer(bytes: [0x60, 0, 0, 0])
    bytes.writeInteger(UInt16(chain.count + upperLayerBytes.count))
    bytes.writeBytes([extensionHeaders.first?.0 ?? upperLayer, 64])
    bytes.writeBytes([0xFD] + Array(repeating: 0, count: 14) + [1])
    bytes.writeBytes([0xFD] + Array(repeating: 0, count: 14) + [2])
    bytes.writeBytes(chain + upperLayerBytes)
    return bytes
}
