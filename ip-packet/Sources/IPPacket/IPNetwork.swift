/// An IP network: an address prefix such as `10.0.0.0/8` or `fd00::/64` (RFC 4632 §3.1, RFC 4291 §2.3).
///
/// Host bits are zero. The strict initializers reject an address with host bits set, as the `ip_network` crate
/// that Firezone's connlib parses portal messages with does: `10.0.0.1/8` names a host in a network, and reading
/// it as `10.0.0.0/8` would hide a mistake. The portal sends networks so (the `address` of a CIDR resource is
/// `172.20.0.0/16` even when its name is `172.20.0.1/16`). The `masking` initializers clear host bits instead,
/// as `wg` does for AllowedIPs.
public struct IPNetwork: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The network's first address; its host bits are zero.
    public let address: IPAddress
    public let prefixLength: UInt8

    /// A network from its first address and prefix length.
    public init(address: IPAddress, prefixLength: UInt8) throws(IPNetworkError) {
        try Self.checkPrefixLength(prefixLength, of: address)
        let masked = Self.masked(address, prefixLength: prefixLength)
        guard masked == address else {
            throw .hostBitsSet(address: address, prefixLength: prefixLength)
        }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// The network of `prefixLength` bits that contains `address`.
    public init(masking address: IPAddress, prefixLength: UInt8) throws(IPNetworkError) {
        try Self.checkPrefixLength(prefixLength, of: address)
        self.init(unchecked: Self.masked(address, prefixLength: prefixLength), prefixLength: prefixLength)
    }

    /// The network of one address: `/32` or `/128`.
    public init(host address: IPAddress) {
        self.init(unchecked: address, prefixLength: Self.maximumPrefixLength(of: address.version))
    }

    /// Parses `address/prefix-length`, rejecting host bits.
    public init(parsing text: some StringProtocol) throws(IPNetworkError) {
        let (address, prefixLength) = try Self.parse(text)
        try self.init(address: address, prefixLength: prefixLength)
    }

    /// Parses `address/prefix-length`, clearing host bits.
    public init(masking text: some StringProtocol) throws(IPNetworkError) {
        let (address, prefixLength) = try Self.parse(text)
        try self.init(masking: address, prefixLength: prefixLength)
    }

    /// Parses `address/prefix-length`, rejecting host bits; `nil` for anything ``init(parsing:)`` rejects.
    public init?(_ text: some StringProtocol) {
        do {
            try self.init(parsing: text)
        } catch {
            return nil
        }
    }

    init(unchecked address: IPAddress, prefixLength: UInt8) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// The prefix length of a host: 32 for IPv4, 128 for IPv6.
    public static func maximumPrefixLength(of version: IPVersion) -> UInt8 {
        switch version {
        case .v4: 32
        case .v6: 128
        }
    }

    public var version: IPVersion {
        self.address.version
    }

    /// Whether `address` lies in this network. An IPv4 address is never in an IPv6 network, IPv4-mapped or not.
    public func contains(_ address: IPAddress) -> Bool {
        address.version == self.address.version && Self.masked(address, prefixLength: self.prefixLength) == self.address
    }

    /// Whether every address of `other` lies in this network.
    public func contains(_ other: IPNetwork) -> Bool {
        other.prefixLength >= self.prefixLength && self.contains(other.address)
    }

    /// The number of addresses, saturating at `UInt64.max` for IPv6 networks of 64 host bits or more.
    public var size: UInt64 {
        let hostBits = Int(Self.maximumPrefixLength(of: self.version)) - Int(self.prefixLength)
        return hostBits >= 64 ? .max : 1 << UInt64(hostBits)
    }

    /// The address `offset` places after the network's first one; `nil` past the network's end.
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

    /// IPv4 networks first, then by first address, then shorter prefixes first.
    public static func < (lhs: IPNetwork, rhs: IPNetwork) -> Bool {
        (lhs.address, lhs.prefixLength) < (rhs.address, rhs.prefixLength)
    }

    public var description: String {
        "\(self.address)/\(self.prefixLength)"
    }

    /// `address` with every bit after the first `prefixLength` cleared; `prefixLength` fits the address.
    static func masked(_ address: IPAddress, prefixLength: UInt8) -> IPAddress {
        let prefix = Int(prefixLength)
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

    private static func checkPrefixLength(_ prefixLength: UInt8, of address: IPAddress) throws(IPNetworkError) {
        let maximum = Self.maximumPrefixLength(of: address.version)
        guard prefixLength <= maximum else {
            throw .prefixLengthTooLong(prefixLength, maximum: maximum)
        }
    }

    /// The address and prefix length of `address/prefix-length`: one to three decimal digits after the slash.
    private static func parse(_ text: some StringProtocol) throws(IPNetworkError) -> (IPAddress, UInt8) {
        guard let slash = text.firstIndex(of: "/") else {
            throw .missingPrefixLength(String(text))
        }
        let addressText = text[..<slash]
        // Not `IPAddress(_:)`, which also takes a bracketed IPv6 address: brackets belong to an address with a port.
        guard let address = IPv4Address(addressText).map(IPAddress.v4) ?? IPv6Address(addressText).map(IPAddress.v6)
        else {
            throw .invalidAddress(String(addressText))
        }
        let digits = text[text.index(after: slash)...]
        guard (1...3).contains(digits.utf8.count), digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            let prefixLength = UInt8(digits)
        else {
            throw .invalidPrefixLength(String(digits))
        }
        return (address, prefixLength)
    }
}
