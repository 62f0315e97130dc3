/// An IP address and a port: one end of a UDP or TCP flow.
public struct IPSocketAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    @inlinable
    public init(_ address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// Parses `a.b.c.d:port` or `[v6]:port`.
    public init?(_ text: some StringProtocol) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            return nil
        }
        let host = text[..<colon]
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), let address = IPv6Address(host.dropFirst().dropLast()) else {
                return nil
            }
            self.init(.v6(address), port: port)
        } else {
            guard let address = IPv4Address(host) else {
                return nil
            }
            self.init(.v4(address), port: port)
        }
    }

    public static func < (lhs: IPSocketAddress, rhs: IPSocketAddress) -> Bool {
        (lhs.address, lhs.port) < (rhs.address, rhs.port)
    }

    public var description: String {
        switch self.address {
        case .v4(let address): "\(address):\(self.port)"
        case .v6(let address): "[\(address)]:\(self.port)"
        }
    }
}
