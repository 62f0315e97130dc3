import FirezoneTesting
import IPPacket
import NIOCore
import Testing

struct IPHeaderTests {
    @Test(arguments: [Vectors.udp4, Vectors.udp6, Vectors.tcp4, Vectors.tcp6, Vectors.icmp4, Vectors.icmp6])
    func readsWhatAFullParseReads(vector: String) throws {
        let packet = try IPPacket(buffer(hex: vector))
        let header = try IPHeader(packet.buffer)
        #expect(header.version == packet.version)
        #expect(header.headerLength == packet.transportOffset)
        #expect(header.totalLength == packet.length)
        #expect(header.ipProtocol == packet.ipProtocol)
        #expect(header.source == packet.source)
        #expect(header.destination == packet.destination)
    }

    /// WireGuard pads plaintext to a multiple of 16 bytes (the WireGuard paper, §5.4.6): the header tells where the
    /// packet ends, whatever follows.
    @Test func declaresItsLengthWhateverFollows() throws {
        for vector in [Vectors.udp4, Vectors.udp6] {
            var padded = buffer(hex: vector)
            let length = padded.readableBytes
            padded.writeRepeatingByte(0xEE, count: 13)
            #expect(try IPHeader(padded).totalLength == length)
            let fromBytes = try padded.withUnsafeReadableBytes { bytes in try IPHeader(bytes: bytes) }
            #expect(fromBytes.totalLength == length)
        }
    }

    @Test func readsIPv4OptionsAndTheIPv6FixedHeaderOnly() throws {
        var v4 = buffer(hex: Vectors.udp4)
        v4.setInteger(UInt8(0x46), at: 0)
        #expect(try IPHeader(v4).headerLength == 24)
        // IPv6 with a hop-by-hop options header: the next header names it, and the length is the fixed header's.
        var v6 = buffer(hex: Vectors.udp6)
        v6.setInteger(UInt8(0), at: 6)
        let header = try IPHeader(v6)
        #expect(header.ipProtocol == .ipv6HopByHopOptions)
        #expect(header.headerLength == 40)
    }

    @Test func readsTheHeaderAfterTheReaderIndex() throws {
        var shifted = ByteBuffer(repeating: 0x45, count: 7)
        shifted.writeImmutableBuffer(buffer(hex: Vectors.udp6))
        shifted.moveReaderIndex(forwardBy: 7)
        #expect(try IPHeader(shifted).version == .v6)
    }

    @Test func rejectsWhatHasNoWholeHeaderWithATypedReason() {
        func reason(_ bytes: [UInt8]) -> IPPacketError.Reason? {
            do {
                _ = try IPHeader(ByteBuffer(bytes: bytes))
                return nil
            } catch {
                return error.reason
            }
        }
        #expect(reason([]) == .empty)
        #expect(reason([0x50] + Array(repeating: 0, count: 39)) == .unsupportedVersion(5))
        #expect(reason([0x45] + Array(repeating: 0, count: 18)) == .truncatedIPHeader(version: .v4, length: 19))
        #expect(reason([0x60] + Array(repeating: 0, count: 38)) == .truncatedIPHeader(version: .v6, length: 39))
        #expect(reason([0x44] + Array(repeating: 0, count: 19)) == .invalidIPv4HeaderLength(words: 4))
        #expect(reason([0x46] + Array(repeating: 0, count: 19)) == .invalidIPv4HeaderLength(words: 6))
        #expect(reason([0x46] + Array(repeating: 0, count: 23)) == nil)
    }

    /// Random valid packets, with random bytes after them: the header read agrees with the full parse.
    @Test(arguments: TestSeeds.seeds(count: 100))
    func agreesWithAFullParseOnRandomPackets(seed: UInt64) throws {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let packet = RandomPackets.packet(using: &rng)
        var bytes = packet.buffer
        bytes.writeBytes(rng.bytes(Int.random(in: 0...16, using: &rng)))
        let header = try IPHeader(bytes)
        let expectedHeaderLength = packet.version == .v4 ? packet.transportOffset : 40
        #expect(header.version == packet.version, "\(TestSeeds.replayHint(seed))")
        #expect(header.headerLength == expectedHeaderLength, "\(TestSeeds.replayHint(seed))")
        #expect(header.totalLength == packet.length, "\(TestSeeds.replayHint(seed))")
        #expect(header.source == packet.source, "\(TestSeeds.replayHint(seed))")
        #expect(header.destination == packet.destination, "\(TestSeeds.replayHint(seed))")
        if packet.version == .v4 || packet.transportOffset == 40 {
            #expect(header.ipProtocol == packet.ipProtocol, "\(TestSeeds.replayHint(seed))")
        }
    }
}
