/// What identifies one side of a flow above IP: a TCP or UDP port, or the identifier of an ICMP echo.
///
/// ICMP echo requests and replies carry one identifier for both directions, so a packet's source and
/// destination `TransportProtocol` are the same `.icmpEcho` value.
public enum TransportProtocol: Hashable, Sendable, CustomStringConvertible {
    case tcp(port: UInt16)
    case udp(port: UInt16)
    case icmpEcho(identifier: UInt16)

    /// The port or identifier.
    @inlinable
    public var value: UInt16 {
        switch self {
        case .tcp(let port), .udp(let port): port
        case .icmpEcho(let identifier): identifier
        }
    }

    /// The same kind of protocol with another port or identifier.
    @inlinable
    public func with(value: UInt16) -> TransportProtocol {
        switch self {
        case .tcp: .tcp(port: value)
        case .udp: .udp(port: value)
        case .icmpEcho: .icmpEcho(identifier: value)
        }
    }

    public var description: String {
        switch self {
        case .tcp(let port): "tcp/\(port)"
        case .udp(let port): "udp/\(port)"
        case .icmpEcho(let identifier): "icmp-echo/\(identifier)"
        }
    }
}
