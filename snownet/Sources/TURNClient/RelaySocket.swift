import IPPacket

/// Where a TURN server listens: one address per family it has. Firezone's portal lists a relay once per family;
/// the entries of one relay are merged into one socket so that one allocation serves both families
/// (rust/connlib/tunnel/src/utils.rs).
public enum RelaySocket: Hashable, Sendable, CustomStringConvertible {
    case v4(IPSocketAddress)
    case v6(IPSocketAddress)
    case dual(v4: IPSocketAddress, v6: IPSocketAddress)

    /// The server's addresses, IPv4 first.
    public var addresses: [IPSocketAddress] {
        switch self {
        case .v4(let address), .v6(let address): [address]
        case .dual(let v4, let v6): [v4, v6]
        }
    }

    /// The server's address of `family`, if it has one.
    public func address(_ family: IPVersion) -> IPSocketAddress? {
        self.addresses.first { $0.address.version == family }
    }

    public var description: String {
        self.addresses.map { "\($0)" }.joined(separator: "/")
    }
}
