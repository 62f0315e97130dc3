import IPPacket

/// The timeouts and limits of the gateway's NAT for DNS resources (``NATTable``).
public enum NATConstants {
    // MARK: Specification

    /// Firezone's rust/connlib/tunnel/src/gateway/nat_table.rs in the 2026 reference: 2 h 4 min after the last
    /// packet, the "established connection idle-timeout" RFC 5382 §5 (REQ-5) requires at least. The seed era used
    /// 2 h; we take the reference's value, which RFC 5382 asks for.
    public static let tcpTimeout: Duration = .seconds(2 * 60 * 60 + 4 * 60)

    /// 2 minutes after the last packet, the minimum RFC 4787 §4.3 (REQ-5) allows for a UDP mapping; seed era and
    /// reference agree.
    public static let udpTimeout: Duration = .seconds(2 * 60)

    /// 2 minutes after the last packet for an ICMP echo session; seed era and reference agree (RFC 5508 §3.2, REQ-1,
    /// asks for at least 60 s).
    public static let icmpTimeout: Duration = .seconds(2 * 60)

    /// A session that has seen no packet from the outside yet lives 60 s after its last packet (2026 reference; the
    /// seed era has no such state and keeps it for the protocol's full timeout): a destination that never answers
    /// does not hold a mapping for hours.
    public static let unconfirmedTimeout: Duration = .seconds(60)

    /// Once both sides sent a TCP FIN the session lives 5 s past its last packet, enough for the final ACKs (2026
    /// reference; the seed era keeps closed sessions for the full TCP timeout). A TCP RST in either direction ends a
    /// session at once (both eras).
    public static let closedTCPTimeout: Duration = .seconds(5)

    // MARK: Implementation

    /// Sessions one client may hold on a gateway. Firezone does not bound its table; we refuse new sessions beyond
    /// this many so that one client cannot exhaust the gateway's memory. 65,536 is the number of ports of one
    /// protocol towards one address, the most a client can hold open to one server. A session with its index
    /// entries takes some 200 bytes, so a full table is of the order of 13 MB.
    public static let maximumSessionsPerClient = 65_536

    /// How long the outside key of an ended session is remembered, so that a late packet from the resource is
    /// dropped as belonging to an expired session instead of passing as traffic of no session. Firezone remembers
    /// them as long as the client stays connected; we bound both their age and their number
    /// (``maximumSessionsPerClient``).
    public static let expiredSessionMemory: Duration = .seconds(10 * 60)

    /// Domains of one client being resolved at once; further `AssignedIps` wait for the client's repeat (it sends
    /// one every 2 s until answered). Firezone bounds the gateway's concurrent resolutions in its shell; the state
    /// bounds what it remembers.
    public static let maximumPendingResolutionsPerClient = 1_024

    /// Proxy IPs one client may set up on a gateway, 8,192 domains at 4 IPv4 and 4 IPv6 proxy IPs each. Firezone
    /// does not bound them; proxy IPs beyond are not mapped (packets to them get ICMP network unreachable).
    public static let maximumProxyAddressesPerClient = 65_536

    /// The timeout of a confirmed, open session of `transport`'s kind.
    static func timeout(for transport: TransportProtocol) -> Duration {
        switch transport {
        case .tcp: Self.tcpTimeout
        case .udp: Self.udpTimeout
        case .icmpEcho: Self.icmpTimeout
        }
    }
}
