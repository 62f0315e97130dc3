import IPPacket

/// Which destinations the Internet resource reaches (Firezone's later
/// rust/libs/connlib/tunnel-proto/src/gateway/client_on_gateway.rs).
///
/// Firezone 685acdac3a let a client with the Internet resource reach any address through the gateway, the gateway's
/// own networks included; we take the later, stricter rule, which keeps the Internet resource to the Internet:
/// private, loopback, link-local, shared (CGNAT), multicast and reserved addresses are answered with ICMP network
/// unreachable. A site's private networks are reachable through CIDR resources.
public enum InternetAddress {
    /// Whether the Internet resource may carry traffic to (or from) `address`: not to private use (RFC 1918,
    /// RFC 4193 unique local, where Firezone's tunnel and proxy ranges also lie), shared address space (RFC 6598,
    /// Firezone's IPv4 tunnel and proxy ranges), loopback, link-local, multicast, class E and limited broadcast, nor
    /// IPv4-mapped addresses, which would reach IPv4 hosts past these checks (RFC 4291 §2.5.5.2). Nor to "this
    /// network" or the unspecified address, which are never a destination (RFC 1122 §3.2.1.3, RFC 4291 §2.5.2).
    public static func isReachable(_ address: IPAddress) -> Bool {
        switch SpecialPurposeAddress(address) {
        case .privateUse, .uniqueLocal, .sharedAddressSpace, .loopback, .linkLocal, .multicast, .reserved,
            .limitedBroadcast, .ipv4Mapped, .thisNetwork, .unspecified:
            false
        case .ietfProtocolAssignments, .documentation, .benchmarking, .ipv4Translation, .discardOnly, nil:
            true
        }
    }
}
