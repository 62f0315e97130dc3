import FirezoneTesting
import IPPacket
import NIOCore
import Testing

/// Randomised checks over many seeds; a failure names its seed (replay with `SIMULATION_SEED`).
struct IPPacketPropertyTests {
    /// The incremental (RFC 1624) checksum after any sequence of rewrites equals a full recomputation, bit for bit.
    @Test(arguments: TestSeeds.seeds(count: 400))
    func rewritesKeepChecksumsEqualToAFullRecomputation(seed: UInt64) throws {
        var rng = SeededRandomNumberGenerator(seed: seed)
        var packet = RandomPackets.packet(using: &rng)
        let udpWithoutChecksum = packet.udp?.checksum == 0 && packet.version == .v4
        var applied: [String] = []

        for _ in 0..<Int.random(in: 1...20, using: &rng) {
            let value = UInt16.random(in: 0...UInt16.max, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0:
                packet.setSource(RandomPackets.address(packet.version, using: &rng))
                applied.append("setSource")
            case 1:
                packet.setDestination(RandomPackets.address(packet.version, using: &rng))
                applied.append("setDestination")
            case 2:
                _ = try? packet.setSourceProtocol(value)
                applied.append("setSourceProtocol(\(value))")
            case 3:
                _ = try? packet.setDestinationProtocol(value)
                applied.append("setDestinationProtocol(\(value))")
            case 4:
                _ = try? packet.translateSource(to: RandomPackets.address(packet.version, using: &rng), port: value)
                applied.append("translateSource(\(value))")
            case 5:
                _ = try? packet.translateDestination(
                    to: RandomPackets.address(packet.version, using: &rng),
                    port: value
                )
                applied.append("translateDestination(\(value))")
            default:
                let ecn = ECN.allCases.randomElement(using: &rng)!
                packet.setECN(ecn)
                applied.append("setECN(\(ecn))")
            }

            let context = Comment(rawValue: "\(TestSeeds.replayHint(seed)); after \(applied)")
            #expect(packet.hasValidChecksums, context)
            if udpWithoutChecksum {
                #expect(packet.udp?.checksum == 0, context)
            } else {
                #expect(packet == recomputed(packet), context)
            }
            #expect((try? IPPacket(packet.buffer)) != nil, context)
        }
    }

    /// Any corruption of a valid packet either parses as the independent reading of its bytes says, or is refused
    /// with exactly the reason that reading finds.
    @Test(arguments: TestSeeds.seeds(count: 400))
    func corruptedPacketsParseOrFailWithTheReasonTheirBytesCallFor(seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        var bytes = RandomPackets.packet(using: &rng).buffer
        for _ in 0..<Int.random(in: 1...8, using: &rng) {
            let index = Int.random(in: 0..<min(bytes.readableBytes, 64), using: &rng)
            bytes.setInteger(UInt8.random(in: 0...255, using: &rng), at: index)
        }
        if Bool.random(using: &rng) {
            bytes.moveWriterIndex(to: Int.random(in: 0...bytes.writerIndex, using: &rng))
        }
        expectValidation(of: Array(bytes.readableBytesView), Comment(rawValue: TestSeeds.replayHint(seed)))
    }

    /// Random bytes behind a version nibble parse or fail as the independent reading of their bytes says. Half the
    /// time the declared lengths (IP, and UDP's) are made right, the IPv4 fragment fields cleared and the protocol
    /// drawn from the ones with rules, so that the checks past the IP header are reached.
    @Test(arguments: TestSeeds.seeds(count: 400))
    func randomBytesParseOrFailWithTheReasonTheirBytesCallFor(seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        var bytes = rng.bytes(Int.random(in: 0...1300, using: &rng))
        if !bytes.isEmpty {
            bytes[0] = Bool.random(using: &rng) ? 0x45 : 0x60  // get past the version check
        }
        if Bool.random(using: &rng) {
            // TCP, UDP, ICMP, ICMPv6, the IPv6 extension headers, Firezone's control protocol.
            let ipProtocol: UInt8 = [6, 17, 1, 58, 0, 43, 44, 51, 60, 0xFF].randomElement(using: &rng)!
            switch bytes.first {
            case 0x45 where bytes.count >= 20:
                bytes[2] = UInt8(bytes.count >> 8)
                bytes[3] = UInt8(bytes.count & 0xFF)
                bytes[6] = 0
                bytes[7] = 0
                bytes[9] = ipProtocol
            case 0x60 where bytes.count >= 40:
                bytes[4] = UInt8((bytes.count - 40) >> 8)
                bytes[5] = UInt8((bytes.count - 40) & 0xFF)
                bytes[6] = ipProtocol
            default:
                break
            }
            let transportOffset = bytes.first == 0x45 ? 20 : 40
            if ipProtocol == 17, bytes.count >= transportOffset + 8 {
                bytes[transportOffset + 4] = UInt8((bytes.count - transportOffset) >> 8)
                bytes[transportOffset + 5] = UInt8((bytes.count - transportOffset) & 0xFF)
            }
        }
        expectValidation(of: bytes, Comment(rawValue: TestSeeds.replayHint(seed)))
    }

    /// Every packet that can be refused can be refused with an ICMP error quoting it faithfully.
    @Test(arguments: TestSeeds.seeds(count: 200))
    func destinationUnreachableRoundTrips(seed: UInt64) throws {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let original = RandomPackets.packet(using: &rng)
        let unreachable = try IPPacket(
            IPPacket.makeICMPDestinationUnreachable(for: original, reason: .administrativelyProhibited).buffer
        )
        let context = Comment(rawValue: TestSeeds.replayHint(seed))
        #expect(unreachable.hasValidChecksums, context)
        let (_, failed) = try #require(try unreachable.icmpError(), context)
        #expect(failed.source == original.source && failed.destination == original.destination, context)
        if original.version == .v4 {
            #expect(failed.ipProtocol == original.ipProtocol, context)
            #expect(failed.sourceProtocol == (try? original.sourceProtocol()), context)
        }
    }
}

/// `IPPacket(_:)` agrees with ``ExpectedValidation``: the same layout when it parses, the same reason when not. A
/// packet that parses then answers every accessor and rewrite.
private func expectValidation(of bytes: [UInt8], _ context: Comment) {
    let expected = ExpectedValidation(bytes)
    do throws(IPPacketError) {
        let packet = try IPPacket(ByteBuffer(bytes: bytes))
        #expect(expected == .valid(packet.version, packet.ipProtocol, transportOffset: packet.transportOffset), context)
        exerciseAccessors(packet)
    } catch {
        #expect(expected == .invalid(error.reason), context)
    }
}

private func exerciseAccessors(_ packet: IPPacket) {
    _ = (packet.source, packet.destination, packet.ecn, packet.hopLimit, packet.payload, packet.transportSegment)
    _ = (packet.udp?.length, packet.tcp?.options, packet.icmp?.isEcho, packet.fzP2PControl?.body)
    _ = (try? packet.sourceProtocol(), try? packet.destinationProtocol(), try? packet.icmpError())
    _ = packet.hasValidChecksums
    var copy = packet
    copy.computeChecksums()
    copy.setECN(.ce)
    _ = try? copy.translateSource(to: packet.destination, port: 1)
}
