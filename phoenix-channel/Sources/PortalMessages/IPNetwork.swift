import IPPacket

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/64`): the address of a CIDR resource, a tunnel range.
///
/// Host bits must be zero, as in the `ip_network` crate that connlib parses these with: `10.0.0.1/8`
/// names a host, not a network, and is rejected rather than silently truncated.
public struct IPNetwork: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public private(set) var address: IPAddress
    public private(set) var prefixLength: UInt8

    /// A network from its first address and prefix length; nil when the length is too long or host bits are set.
    public init?(address: IPAddress, prefixLength: UInt8) {
        guard prefixLength <= Self.maximumPrefixLength(address) else {
            return nil
        }
        self.address = address
        self.prefixLength = prefixLength
        guard self.masked(address) == address else {
            return nil
        }
    }

    public init?(_ text: some StringProtocol) {
        guard let slash = text.firstIndex(of: "/"),
            let address = IPAddress(text[..<slash]),
            case let digits = text[text.index(after: slash)...],
            (1...3).contains(digits.count),
            digits.allSatisfy({ ("0"..."9").contains($0) }),
            let prefix = UInt8(digits)
        else {
            return nil
        }
        self.init(address: address, prefixLength: prefix)
    }

    /// Whether `address` lies in this network.
    public func contains(_ address: IPAddress) -> Bool {
        address.version == self.address.version && self.masked(address) == self.address
    }

    /// The number of addresses, saturating at `UInt64.max` for large IPv6 networks.
    public var size: UInt64 {
        let hostBits = Int(Self.maximumPrefixLength(self.address)) - Int(self.prefixLength)
        return hostBits >= 64 ? .max : 1 << UInt64(hostBits)
    }

    /// The address `offset` places after the network's first one; nil past the network's end.
    public func address(at offset: UInt64) -> IPAddress? {
        guard offset < self.size || self.size == .max else {
            return nil
        }
        switch self.address {
        case .v4(let base):
            return .v4(IPv4Address(rawValue: base.rawValue + UInt32(offset)))
        case .v6(let base):
            let (low, overflow) = base.low.addingReportingOverflow(offset)
            return .v6(IPv6Address(high: base.high &+ (overflow ? 1 : 0), low: low))
        }
    }

    private func masked(_ address: IPAddress) -> IPAddress {
        let prefix = Int(self.prefixLength)
        switch address {
        case .v4(let value):
            let mask: UInt32 = prefix == 0 ? 0 : ~0 << (32 - prefix)
            return .v4(IPv4Address(rawValue: value.rawValue & mask))
        case .v6(let value):
            let highMask: UInt64 = prefix == 0 ? 0 : prefix >= 64 ? ~0 : ~0 << (64 - prefix)
            let lowMask: UInt64 = prefix <= 64 ? 0 : prefix == 128 ? ~0 : ~0 << (128 - prefix)
            return .v6(IPv6Address(high: value.high & highMask, low: value.low & lowMask))
        }
    }

    private static func maximumPrefixLength(_ address: IPAddress) -> UInt8 {
        address.version == .v4 ? 32 : 128
    }

    public static func < (lhs: IPNetwork, rhs: IPNetwork) -> Bool {
        (lhs.address, lhs.prefixLength) < (rhs.address, rhs.prefixLength)
    }

    public var description: String {
        "\(self.address)/\(self.prefixLength)"
    }

    public init(from decoder: any Decoder) throws {
        self = try decodeText(from: decoder, "not a network in CIDR notation with its host bits zero") { IPNetwork($0) }
    }

    public func encode(to encoder: any Encoder) throws {
        try encodeText(self.description, to: encoder)
    }
}
