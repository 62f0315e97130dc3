/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// Parses either text form; IPv6 addresses may be written in brackets.
    public init?(_ text: some StringProtocol) {
        if let ipv4 = IPv4Address(text) {
            self = .v4(ipv4)
        } else if text.hasPrefix("["), text.hasSuffix("]"), let ipv6 = IPv6Address(text.dropFirst().dropLast()) {
            self = .v6(ipv6)
        } else if let ipv6 = IPv6Address(text) {
            self = .v6(ipv6)
        } else {
            return nil
        }
    }

    @inlinable
    public var version: IPVersion {
        switch self {
        case .v4: .v4
        case .v6: .v6
        }
    }

    public var description: String {
        switch self {
        case .v4(let address): address.description
        case .v6(let address): address.description
        }
    }
}
