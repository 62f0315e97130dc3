import IPPacket
import LinuxIO
import WireGuard

extension fz_datagram {
    /// What the cookie mechanism binds a handshake's source to.
    var cookieSource: CookieSource {
        switch self.socketAddress.address {
        case .v4(let address): CookieSource(ipv4: address.rawValue, port: self.port)
        case .v6(let address): CookieSource(ipv6High: address.high, low: address.low, port: self.port)
        }
    }
}
