import CUDPBatch
import IPPacket
import WireGuard

extension fz_datagram {
    /// The remote address, without allocating.
    var socketAddress: IPSocketAddress {
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

    mutating func setDestination(_ destination: IPSocketAddress) {
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

    /// What the cookie mechanism binds a handshake's source to.
    var cookieSource: CookieSource {
        switch self.socketAddress.address {
        case .v4(let address): CookieSource(ipv4: address.rawValue, port: self.port)
        case .v6(let address): CookieSource(ipv6High: address.high, low: address.low, port: self.port)
        }
    }
}
