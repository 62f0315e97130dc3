@_exported import CLinuxIO
import IPPacket

extension fz_datagram {
    /// The remote address (the sender of a received datagram), without allocating.
    public var socketAddress: IPSocketAddress {
        withUnsafeBytes(of: self.address) { raw in
            if self.family == 4 {
                return IPSocketAddress(
                    .v4(IPv4Address(rawValue: UInt32(bigEndian: raw.loadUnaligned(as: UInt32.self)))),
                    port: self.port
                )
            }
            let high = UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self))
            let low = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            return IPSocketAddress(.v6(IPv6Address(high: high, low: low)), port: self.port)
        }
    }

    /// Sets where the datagram goes.
    public mutating func setDestination(_ destination: IPSocketAddress) {
        self.port = destination.port
        self.family = destination.address.version == .v4 ? 4 : 6
        withUnsafeMutableBytes(of: &self.address) { raw in
            switch destination.address {
            case .v4(let address):
                raw.storeBytes(of: address.rawValue.bigEndian, as: UInt32.self)
            case .v6(let address):
                raw.storeBytes(of: address.high.bigEndian, as: UInt64.self)
                raw.storeBytes(of: address.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
        }
    }
}
