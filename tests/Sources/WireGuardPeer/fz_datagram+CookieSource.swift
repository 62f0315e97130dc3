import IPPacket
import LinuxIO
import WireGuard

extension fz_datagram {
    /// What the cookie mechanism binds a handshake's source to.
    var cookieSource: CookieSource {
        CookieSource(self.socketAddress)
    }
}
