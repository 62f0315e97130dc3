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

    /// Our side of the datagram: the address a received datagram was sent to (on a socket with
    /// `fz_udp_enable_local_address`), or the address to send one from; nil when unknown, or to let the route
    /// pick. Setting an address that is not the host's, or of the other family than the destination, makes the
    /// send refuse the datagram and count it as failed.
    public var localAddress: IPAddress? {
        get {
            withUnsafeBytes(of: self.local_address) { raw in
                switch self.local_family {
                case 4:
                    return .v4(IPv4Address(rawValue: UInt32(bigEndian: raw.loadUnaligned(as: UInt32.self))))
                case 6:
                    let high = UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self))
                    let low = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                    return .v6(IPv6Address(high: high, low: low))
                default:
                    return nil
                }
            }
        }
        set {
            self.local_family = 0
            withUnsafeMutableBytes(of: &self.local_address) { raw in
                raw.storeBytes(of: 0, as: UInt64.self)
                raw.storeBytes(of: 0, toByteOffset: 8, as: UInt64.self)
                switch newValue {
                case .v4(let address):
                    raw.storeBytes(of: address.rawValue.bigEndian, as: UInt32.self)
                case .v6(let address):
                    raw.storeBytes(of: address.high.bigEndian, as: UInt64.self)
                    raw.storeBytes(of: address.low.bigEndian, toByteOffset: 8, as: UInt64.self)
                case nil:
                    break
                }
            }
            self.local_family = newValue.map { $0.version == .v4 ? 4 : 6 } ?? 0
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
