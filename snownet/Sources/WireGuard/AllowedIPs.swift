import NIOCore

/// The inner source addresses a peer may send from: WireGuard's cryptokey routing on receive (§2), checked after
/// decryption. A protocol so that the router does not depend on how the table is built (a list of prefixes, a
/// longest-prefix-match trie).
public protocol AllowedIPs {
    /// Whether the source address of the IP packet in `packet`'s readable bytes belongs to this peer. Must not
    /// allocate: it runs once per received packet.
    func allowsSource(of packet: ByteBuffer) -> Bool
}
