import IPPacket
import NIOCore

extension ByteBuffer {
    /// The destination (or source) address of the IP packet in the readable bytes; nil when they hold none.
    func ipAddress(source: Bool) -> IPAddress? {
        self.withUnsafeReadableBytes { raw -> IPAddress? in
            guard raw.count >= 20 else {
                return nil
            }
            switch raw[0] >> 4 {
            case 4:
                let offset = source ? 12 : 16
                return .v4(IPv4Address(rawValue: UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
            case 6 where raw.count >= 40:
                let offset = source ? 8 : 24
                return .v6(
                    IPv6Address(
                        high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
                        low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
                    )
                )
            default:
                return nil
            }
        }
    }
}
