import IPPacket

/// The numbers of the relay's TURN behaviour (RFC 8656; Firezone's rust/relay/server/src/server.rs).
public enum RelayConstants {
    // MARK: Specification

    /// RFC 8656 §7.2: "the default lifetime of an allocation is 10 minutes".
    public static let defaultAllocationLifetime: Duration = .seconds(600)
    /// RFC 8656 §7.2: a server "SHOULD NOT" grant more than an hour.
    public static let maximumAllocationLifetime: Duration = .seconds(3600)
    /// RFC 8656 §12: "a channel binding lasts for 10 minutes unless refreshed".
    public static let channelBindingLifetime: Duration = .seconds(600)
    /// RFC 8656 §12: after a binding expires, its number and peer address stay reserved for 5 more minutes.
    public static let channelReuseDelay: Duration = .seconds(300)
    /// RFC 8656 §7.2: a port reserved by EVEN-PORT is held for "approximately 30 seconds".
    public static let reservationLifetime: Duration = .seconds(30)
    /// RFC 8656 §14: UDP, the only transport we relay.
    public static let udpTransport: UInt8 = 17
    /// RFC 8656 §12: the channel numbers a client may bind.
    public static let channelNumbers: ClosedRange<UInt16> = 0x4000...0x7FFF

    // MARK: Implementation

    /// Firezone's relays always use this realm (Firezone's rust/relay/server/src/auth.rs).
    public static let realm = "firezone"
    /// The source prefixes replies to unauthenticated requests are limited by: what one customer, one NAT pool
    /// or one spoofing host typically holds (an IPv4 /24, an IPv6 /56 as RIPE-690 §4.2 assigns to a site).
    public static let rateLimitedIPv4PrefixLength = 24
    public static let rateLimitedIPv6PrefixLength = 56
    /// Firezone's clients hard-code this port.
    public static let defaultListenPort: UInt16 = 3478
    /// The ports allocations are made from (Firezone's relay CLI, rust/relay/server/src/main.rs).
    public static let defaultAllocationPorts: ClosedRange<UInt16> = 49152...65535
    /// Random draws before the port search falls back to a scan, so allocation stays fast while ports are plenty.
    public static let randomPortAttempts = 16
    /// Whether `address` can never be a peer of a relay: RFC 6890's special-purpose blocks that are never a remote
    /// host ("this network" and unspecified, loopback, link-local with the cloud metadata services at
    /// 169.254.169.254, multicast, limited broadcast), and IPv4-mapped addresses, which would reach IPv4 hosts past
    /// the IPv4 checks (RFC 4291 §2.5.5.2). Private ranges (RFC 1918, RFC 4193) are peers: gateways often sit beside
    /// the relay in one VPC.
    public static func isNeverPeer(_ address: IPAddress) -> Bool {
        switch SpecialPurposeAddress(address) {
        case .thisNetwork, .unspecified, .loopback, .linkLocal, .multicast, .limitedBroadcast, .ipv4Mapped:
            true
        case .privateUse, .sharedAddressSpace, .uniqueLocal, .ietfProtocolAssignments, .documentation, .benchmarking,
            .ipv4Translation, .discardOnly, .reserved, nil:
            false
        }
    }
}
