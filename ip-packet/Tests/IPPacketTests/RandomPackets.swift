import FirezoneTesting
import IPPacket
import NIOCore

/// Random valid packets, including the shapes builders never produce: IPv4 options, IPv6 extension headers,
/// TCP options, ECN bits, opaque protocols, and IPv4 UDP without a checksum.
enum RandomPackets {
    static func packet(using rng: inout SeededRandomNumberGenerator) -> IPPacket {
        let version: IPVersion = Bool.random(using: &rng) ? .v4 : .v6
        let ipProtocol = [IPProtocol.udp, .tcp, version == .v4 ? .icmp : .icmpv6, IPProtocol(rawValue: 47)]
            .randomElement(using: &rng)!

        var header: [UInt8]
        var nextHeaderIndex: Int
        switch version {
        case .v4:
            let optionWords = Int.random(in: 0...(Bool.random(using: &rng) ? 0 : 10), using: &rng)
            header = [UInt8(0x40 | (5 + optionWords)), UInt8.random(in: 0...255, using: &rng), 0, 0]
            header += rng.bytes(2) + (Bool.random(using: &rng) ? [0x40, 0] : [0, 0])
            header += [UInt8.random(in: 1...255, using: &rng), ipProtocol.rawValue, 0, 0] + rng.bytes(8)
            header += Array(repeating: 1, count: optionWords * 4)  // NOP options
            nextHeaderIndex = 9
        case .v6:
            header = [0x60 | UInt8.random(in: 0...15, using: &rng)] + rng.bytes(3) + [0, 0, 0]
            header += [UInt8.random(in: 0...255, using: &rng)] + rng.bytes(32)
            nextHeaderIndex = 6
            for _ in 0..<Int.random(in: 0...(Bool.random(using: &rng) ? 0 : 3), using: &rng) {
                let type: UInt8 = [0, 43, 60].randomElement(using: &rng)!
                let units = Int.random(in: 0...2, using: &rng)
                header[nextHeaderIndex] = type
                nextHeaderIndex = header.count
                header += [0, UInt8(units)] + Array(repeating: 0, count: units * 8 + 6)
            }
            header[nextHeaderIndex] = ipProtocol.rawValue
        }

        let room = IPPacketConstants.maximumPacketLength - header.count
        var transport: [UInt8]
        switch ipProtocol {
        case .udp:
            transport = rng.bytes(8) + rng.bytes(Int.random(in: 0...(room - 8), using: &rng))
            transport[4] = UInt8(transport.count >> 8)
            transport[5] = UInt8(transport.count & 0xFF)
        case .tcp:
            let optionWords = Int.random(in: 0...min(10, (room - 20) / 4), using: &rng)
            transport = rng.bytes(20) + rng.bytes(optionWords * 4)
            transport[12] = UInt8(5 + optionWords) << 4
            transport += rng.bytes(Int.random(in: 0...(room - transport.count), using: &rng))
        case .icmp, .icmpv6:
            let echo: UInt8 =
                version == .v4 ? [0, 8, 3].randomElement(using: &rng)! : [128, 129, 1].randomElement(using: &rng)!
            transport = [echo] + rng.bytes(7) + rng.bytes(Int.random(in: 0...(room - 8), using: &rng))
        default:
            transport = rng.bytes(Int.random(in: 0...room, using: &rng))
        }

        var bytes = ByteBuffer(bytes: header + transport)
        switch version {
        case .v4: bytes.setInteger(UInt16(bytes.readableBytes), at: 2)
        case .v6: bytes.setInteger(UInt16(bytes.readableBytes - 40), at: 4)
        }
        _ = nextHeaderIndex
        var packet = try! IPPacket(bytes)
        packet.computeChecksums()
        if version == .v4, ipProtocol == .udp, Int.random(in: 0..<4, using: &rng) == 0 {
            // A sender that computed no UDP checksum.
            var withoutChecksum = packet.buffer
            withoutChecksum.setInteger(UInt16(0), at: packet.transportOffset + 6)
            packet = try! IPPacket(withoutChecksum)
        }
        return packet
    }

    static func address(_ version: IPVersion, using rng: inout SeededRandomNumberGenerator) -> IPAddress {
        switch version {
        case .v4: .v4(IPv4Address(rawValue: rng.next(upperBound: UInt32.max)))
        case .v6: .v6(IPv6Address(high: rng.next(), low: rng.next()))
        }
    }
}
