/// Which address families a DNS resource's proxy addresses come in: the portal's `ip_stack` (`dual`, `ipv4_only`,
/// `ipv6_only`). The client assigns proxy addresses only of the families the stack has, so that `AssignedIps`
/// carries 4 or 8 of them (rust/connlib/tunnel/src/dns.rs, `get_or_assign_ips`).
public enum ResourceIPStack: Hashable, Sendable {
    case dual
    case ipv4Only
    case ipv6Only

    /// An absent or unknown value is dual: the portal sends `ip_stack` only where it restricts the families.
    public init(portal value: String?) {
        switch value {
        case "ipv4_only": self = .ipv4Only
        case "ipv6_only": self = .ipv6Only
        default: self = .dual
        }
    }

    public var hasIPv4: Bool { self != .ipv6Only }
    public var hasIPv6: Bool { self != .ipv4Only }
}
