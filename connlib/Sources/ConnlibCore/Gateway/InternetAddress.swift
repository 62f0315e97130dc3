import IPPacket

/// Which destinations the Internet resource reaches (Firezone's later
/// rust/libs/connlib/tunnel-proto/src/gateway/client_on_gateway.rs).
///
/// Firezone 685acdac3a let a client with the Internet resource reach any address through the gateway, the gateway's
/// own networks included; we take the later, stricter rule, which keeps the Internet resource to the Internet:
/// private, loopback, link-local, shared (CGNAT), multicast and reserved addresses are answered with ICMP network
/// unreachable. A site's private networks are reachable through CIDR resources.
public enum InternetAddress {
    private static let excludedV4: [IPNetwork] = [
        IPNetwork("10.0.0.0/8")!,  // RFC 1918 §3
        IPNetwork("172.16.0.0/12")!,
        IPNetwork("192.168.0.0/16")!,
        IPNetwork("127.0.0.0/8")!,  // RFC 1122 §3.2.1.3 loopback
        IPNetwork("169.254.0.0/16")!,  // RFC 3927 link-local
        IPNetwork("100.64.0.0/10")!,  // RFC 6598 shared address space (CGNAT), Firezone's tunnel and proxy ranges
        IPNetwork("224.0.0.0/4")!,  // RFC 5771 multicast
        IPNetwork("240.0.0.0/4")!,  // RFC 1112 §4 reserved, broadcast included
    ]

    private static let excludedV6: [IPNetwork] = [
        IPNetwork("::1/128")!,  // RFC 4291 §2.5.3 loopback
        IPNetwork("::ffff:0:0/96")!,  // RFC 4291 §2.5.5.2 IPv4-mapped
        IPNetwork("fc00::/7")!,  // RFC 4193 unique local, Firezone's tunnel and proxy ranges
        IPNetwork("fe80::/10")!,  // RFC 4291 §2.5.6 link-local
        IPNetwork("ff00::/8")!,  // RFC 4291 §2.7 multicast
    ]

    /// Whether the Internet resource may carry traffic to (or from) `address`.
    public static func isReachable(_ address: IPAddress) -> Bool {
        let excluded =
            switch address.version {
            case .v4: Self.excludedV4
            case .v6: Self.excludedV6
            }
        for network in excluded where network.contains(address) {
            return false
        }
        return true
    }
}
