/// An IPv4 "protocol" or IPv6 "next header" number (IANA Assigned Internet Protocol Numbers).
public struct IPProtocol: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8

    @inlinable
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public static let icmp = IPProtocol(rawValue: 1)
    public static let tcp = IPProtocol(rawValue: 6)
    public static let udp = IPProtocol(rawValue: 17)
    public static let icmpv6 = IPProtocol(rawValue: 58)

    // RFC 8200 §4: the extension headers an IPv6 packet may carry before its upper-layer header.
    public static let ipv6HopByHopOptions = IPProtocol(rawValue: 0)
    public static let ipv6Routing = IPProtocol(rawValue: 43)
    public static let ipv6Fragment = IPProtocol(rawValue: 44)
    public static let authenticationHeader = IPProtocol(rawValue: 51)
    public static let ipv6NoNextHeader = IPProtocol(rawValue: 59)
    public static let ipv6DestinationOptions = IPProtocol(rawValue: 60)

    /// Reserved by IANA; Firezone uses it for its peer-to-peer control packets inside WireGuard (Firezone's connlib, rust/connlib/tunnel).
    public static let firezoneP2PControl = IPProtocol(rawValue: 0xFF)

    public static func < (lhs: IPProtocol, rhs: IPProtocol) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String {
        switch self {
        case .icmp: "icmp"
        case .tcp: "tcp"
        case .udp: "udp"
        case .icmpv6: "icmpv6"
        default: "protocol \(self.rawValue)"
        }
    }
}
