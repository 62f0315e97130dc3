import IPPacket

/// The address ranges of a Firezone tunnel (Firezone's connlib, rust/connlib/tunnel/src/lib.rs at the seed era).
///
/// The portal hands every client and gateway one tunnel address per family from the tunnel ranges; the client
/// answers DNS queries for resources with proxy addresses from the proxy ranges and points the system's resolver at
/// the sentinel addresses, each standing for one upstream resolver.
public enum AddressPlan {
    /// Tunnel (TUN) addresses of clients and gateways.
    public static let tunnelV4 = IPNetwork("100.64.0.0/11")!
    public static let tunnelV6 = IPNetwork("fd00:2021:1111::/107")!

    /// Proxy addresses the client's DNS stub gives to DNS resources; the first IPv4 one is 100.96.0.1.
    public static let proxyV4 = IPNetwork("100.96.0.0/11")!
    public static let proxyV6 = IPNetwork("fd00:2021:1111:8000::/107")!

    /// The DNS sentinel addresses the operating system is pointed at, one per upstream resolver. The IPv4 ones lie
    /// inside the IPv4 proxy range and are never handed out as proxy addresses; the IPv6 ones lie outside the /107.
    public static let sentinelV4 = IPNetwork("100.100.111.0/24")!
    public static let sentinelV6 = IPNetwork("fd00:2021:1111:8000:100:100:111:0/120")!

    /// Link-Local Multicast Name Resolution (RFC 4795 §2.1), which the client answers itself.
    public static let llmnrV4 = IPAddress.v4(IPv4Address(224, 0, 0, 252))
    public static let llmnrV6 = IPAddress.v6(IPv6Address("ff02::1:3")!)
    public static let llmnrPort: UInt16 = 5355

    /// The port of the gateway's DNS server on its tunnel addresses, which forwards the SRV and TXT queries a
    /// client sends for DNS resources to the gateway's own resolvers.
    public static let gatewayDNSPort: UInt16 = 53535

    /// Whether `address` is a tunnel address: a client or a gateway (`is_peer` in connlib).
    public static func isTunnelAddress(_ address: IPAddress) -> Bool {
        tunnelV4.contains(address) || tunnelV6.contains(address)
    }

    /// Whether `address` lies in the proxy ranges (IPv4 sentinels included).
    public static func isProxyRange(_ address: IPAddress) -> Bool {
        proxyV4.contains(address) || proxyV6.contains(address)
    }

    public static func isSentinel(_ address: IPAddress) -> Bool {
        sentinelV4.contains(address) || sentinelV6.contains(address)
    }

    /// The networks a client routes into its TUN device besides its CIDR resources (and the default routes while
    /// the Internet resource is active): both tunnel, proxy and sentinel ranges.
    public static let clientRoutes: [IPNetwork] = [tunnelV4, tunnelV6, proxyV4, proxyV6, sentinelV4, sentinelV6]

    /// The networks a gateway routes into its TUN device: both tunnel ranges, whatever its IP stack (seed era).
    public static let gatewayRoutes: [IPNetwork] = [tunnelV4, tunnelV6]
}
