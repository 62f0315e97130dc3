import IPPacket
import NIOCore
import WireGuard

/// A peer's AllowedIPs as a plain list of prefixes: a linear scan, fine for the handful of prefixes a
/// `wireguard-peer` configuration holds.
struct AllowedIPList: AllowedIPs {
    let networks: [IPNetwork]

    func allowsSource(of packet: ByteBuffer) -> Bool {
        guard let source = packet.ipAddress(source: true) else {
            return false
        }
        return self.networks.contains { $0.contains(source) }
    }
}
