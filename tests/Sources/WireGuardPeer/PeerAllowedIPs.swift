import IPPacket
import NIOCore
import WireGuard

/// One peer's view of the device's cryptokey routing table (the WireGuard paper, §2): a packet from this peer is
/// accepted when the longest prefix containing its source address belongs to this peer. One table serves routing
/// and this check, so a prefix configured for two peers belongs to the later one only, as `wg setconf` does it.
struct PeerAllowedIPs: AllowedIPs {
    /// Every peer's AllowedIPs, valued by peer; shared (copy-on-write) by all peers of a device.
    let routes: IPNetworkTable<Int>
    let peer: Int

    /// The table of every peer's AllowedIPs, valued by the peer's position in `peers`.
    static func routes(of peers: [PeerConfiguration]) -> IPNetworkTable<Int> {
        IPNetworkTable(peers.enumerated().flatMap { index, peer in peer.allowedIPs.map { ($0, index) } })
    }

    func allowsSource(of packet: ByteBuffer) -> Bool {
        guard let header = try? IPHeader(packet) else {
            return false
        }
        return self.routes.longestMatch(for: header.source)?.value == self.peer
    }
}
