import IPPacket

/// An address prefix of AllowedIPs: `10.0.0.0/24`, `fd00::/64`.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    /// `address/prefix`, or a bare address (a host route). Host bits must be zero, as `wg` requires none but
    /// masks them; we mask them too.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(parts[0]) else {
            return nil
        }
        let maximum = address.version == .v4 ? 32 : 128
        var length = maximum
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...maximum).contains(parsed) else {
                return nil
            }
            length = parsed
        }
        self.prefixLength = length
        self.address = Self.mask(address, length)
    }

    private static func mask(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address {
        case .v4(let v4):
            let mask: UInt32 = length == 0 ? 0 : ~0 << (32 - length)
            return .v4(IPv4Address(rawValue: v4.rawValue & mask))
        case .v6(let v6):
            let highMask: UInt64 = length == 0 ? 0 : length >= 64 ? ~0 : ~0 << (64 - length)
            let lowMask: UInt64 = length <= 64 ? 0 : length == 128 ? ~0 : ~0 << (128 - length)
            return .v6(IPv6Address(high: v6.high & highMask, low: v6.low & lowMask))
        }
    }

    public func contains(_ address: IPAddress) -> Bool {
        address.version == self.address.version && Self.mask(address, self.prefixLength) == self.address
    }

    public var description: String {
        "\(self.address)/\(self.prefixLength)"
    }
}
