import IPPacket
import NIOCore

/// Ethernet frames for the XDP program, and their dissection. Built with IPPacket, whose checksums are computed
/// from scratch, so that the program's incremental updates are checked against an independent computation.
enum XDPTestFrames {
    static let clientMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
    static let relayMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02]
    static let etherTypeIPv4: UInt16 = 0x0800
    static let etherTypeIPv6: UInt16 = 0x86DD

    /// Kept across translation: DSCP 46 (expedited forwarding) with ECN ECT(1).
    static let trafficClass: UInt8 = 0xB9
    static let hopLimit: UInt8 = 57
    static let ipv4Identification: UInt16 = 0x1234
    static let ipv6FlowLabel: UInt32 = 0xABCDE

    /// A UDP datagram in an Ethernet frame from `clientMAC` to `relayMAC`, with a non-default traffic class, hop
    /// limit, IPv4 identification and Don't Fragment, or IPv6 flow label, and correct checksums.
    static func udp(
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        payload: [UInt8],
        zeroChecksum: Bool = false
    ) throws -> [UInt8] {
        let packet = try IPPacket.makeUDP(
            source: source.address,
            sourcePort: source.port,
            destination: destination.address,
            destinationPort: destination.port,
            payload: ByteBuffer(bytes: payload),
            hopLimit: Self.hopLimit
        )
        var bytes = Array(packet.buffer.readableBytesView)
        switch source.address.version {
        case .v4:
            bytes[1] = Self.trafficClass
            bytes[4] = UInt8(Self.ipv4Identification >> 8)
            bytes[5] = UInt8(Self.ipv4Identification & 0xFF)
            bytes[6] = 0x40
        case .v6:
            let word = UInt32(6) << 28 | UInt32(Self.trafficClass) << 20 | Self.ipv6FlowLabel
            bytes[0..<4] = [
                UInt8(word >> 24), UInt8((word >> 16) & 0xFF), UInt8((word >> 8) & 0xFF), UInt8(word & 0xFF),
            ]
        }
        var rewritten = try IPPacket(ByteBuffer(bytes: bytes))
        rewritten.computeChecksums()
        bytes = Array(rewritten.buffer.readableBytesView)
        if zeroChecksum {
            let offset = source.address.version == .v4 ? 20 + 6 : 40 + 6
            bytes[offset] = 0
            bytes[offset + 1] = 0
        }
        return self.ethernet(type: source.address.version == .v4 ? Self.etherTypeIPv4 : Self.etherTypeIPv6, bytes)
    }

    static func ethernet(type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        Self.relayMAC + Self.clientMAC + [UInt8(type >> 8), UInt8(type & 0xFF)] + payload
    }

    /// RFC 8656 §12.4: channel number, length, application data.
    static func channelData(_ channel: UInt16, _ data: [UInt8], declaredLength: Int? = nil) -> [UInt8] {
        let length = declaredLength ?? data.count
        return [UInt8(channel >> 8), UInt8(channel & 0xFF), UInt8(length >> 8), UInt8(length & 0xFF)] + data
    }

    /// Application data of an odd length, so that a checksum error in the last word would show.
    static func data(_ seed: UInt8, count: Int = 101) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: Int(seed) &* 31 &+ $0 &* 7) }
    }
}

/// A frame the program sent back out, taken apart.
struct TransmittedFrame {
    var destinationMAC: [UInt8]
    var sourceMAC: [UInt8]
    var etherType: UInt16
    var packet: IPPacket

    init(_ frame: [UInt8]) throws {
        self.destinationMAC = Array(frame[0..<6])
        self.sourceMAC = Array(frame[6..<12])
        self.etherType = UInt16(frame[12]) << 8 | UInt16(frame[13])
        self.packet = try IPPacket(ByteBuffer(bytes: frame[14...]))
    }

    var udp: UDPHeader { self.packet.udp! }
    var payload: [UInt8] { Array(self.packet.payload.readableBytesView) }

    /// The packet with its checksums computed from scratch: equal to the packet if the program's are right.
    var recomputed: IPPacket {
        var copy = try! IPPacket(ByteBuffer(bytes: self.packet.buffer.readableBytesView))
        copy.computeChecksums()
        return copy
    }

    /// The IPv4 TOS or IPv6 traffic class.
    var trafficClass: UInt8 {
        let bytes = Array(self.packet.buffer.readableBytesView.prefix(2))
        switch self.packet.version {
        case .v4: return bytes[1]
        case .v6: return bytes[0] << 4 | bytes[1] >> 4
        }
    }

    /// IPv4 identification and flags with fragment offset.
    var ipv4IdentificationAndFlags: (UInt16, UInt16) {
        let bytes = Array(self.packet.buffer.readableBytesView.prefix(8))
        return (UInt16(bytes[4]) << 8 | UInt16(bytes[5]), UInt16(bytes[6]) << 8 | UInt16(bytes[7]))
    }

    var ipv6FlowLabel: UInt32 {
        let bytes = Array(self.packet.buffer.readableBytesView.prefix(4))
        return (UInt32(bytes[1]) & 0x0F) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3])
    }
}
