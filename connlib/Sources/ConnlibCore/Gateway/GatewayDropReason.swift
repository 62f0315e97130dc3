/// Why the gateway dropped a packet, counted in ``GatewayStats`` for the shell's metrics. A drop that answers the
/// client with an ICMP error is counted too.
public enum GatewayDropReason: Int, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    // MARK: Client → resource
    /// A client sent an ICMP error; only resources and their networks may.
    case clientICMPError
    /// The source is not the client's tunnel address (anti-spoofing).
    case spoofedSource
    /// The destination is another tunnel address: clients do not reach each other through a gateway.
    case clientToClient
    /// No resource the client may use covers the destination (answered with ICMP administratively prohibited).
    case notAuthorized
    /// The resource's filters deny the packet (answered with ICMP administratively prohibited).
    case filtered
    /// The Internet resource does not reach the destination (answered with ICMP network unreachable).
    case notInternetAddress
    /// A proxy IP with no real address of its family (answered with ICMP network unreachable).
    case noProxyTranslation
    /// The DNS-resource NAT refused the flow (no port, table full, ports exhausted).
    case natRefused

    // MARK: Resource → client
    /// A packet from the resources' side for no client of ours.
    case unknownClient
    /// A reply on a NAT session that has ended.
    case expiredNATSession
    /// The source is a tunnel address.
    case fromTunnelAddress
    /// The source is no resource the client may use.
    case unauthorizedSource
    /// The connection cannot carry the packet now (still being set up: the gateway never buffers).
    case notConnected

    // MARK: Tunnel
    /// A decrypted packet that is not a valid IP packet.
    case invalidPacket
    /// A peer-to-peer control message that does not parse.
    case invalidControlMessage

    public var description: String {
        switch self {
        case .clientICMPError: "client_icmp_error"
        case .spoofedSource: "spoofed_source"
        case .clientToClient: "client_to_client"
        case .notAuthorized: "not_authorized"
        case .filtered: "filtered"
        case .notInternetAddress: "not_internet_address"
        case .noProxyTranslation: "no_proxy_translation"
        case .natRefused: "nat_refused"
        case .unknownClient: "unknown_client"
        case .expiredNATSession: "expired_nat_session"
        case .fromTunnelAddress: "from_tunnel_address"
        case .unauthorizedSource: "unauthorized_source"
        case .notConnected: "not_connected"
        case .invalidPacket: "invalid_packet"
        case .invalidControlMessage: "invalid_control_message"
        }
    }
}
