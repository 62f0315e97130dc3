/// The special-purpose block an address lies in, per IANA's IPv4 and IPv6 Special-Purpose Address Registries
/// (RFC 6890, updated by RFC 8190), the multicast blocks (RFC 5771, RFC 4291 §2.7) and the reserved class E block
/// (RFC 1112 §4); `nil` for an address in none of them.
///
/// It only names the block: which blocks a component refuses is that component's policy (the relay's peers, the
/// gateway's Internet resource, the client's multicast drop), spelled as an exhaustive switch so that a new block
/// makes each policy decide. Where blocks nest, the most specific one is the answer (`255.255.255.255` is the
/// limited broadcast address, not class E; `2001:2::/48` is benchmarking, not the rest of `2001::/23`).
///
/// Classifying compares the address's bits with constants: no table is built and nothing is allocated, so packet
/// paths may ask it for every packet.
public enum SpecialPurposeAddress: Hashable, Sendable, CustomStringConvertible {
    /// `0.0.0.0/8`: "this network" and, as `0.0.0.0`, "this host" (RFC 1122 §3.2.1.3).
    case thisNetwork
    /// `::/128` (RFC 4291 §2.5.2).
    case unspecified
    /// `127.0.0.0/8` (RFC 1122 §3.2.1.3), `::1/128` (RFC 4291 §2.5.3).
    case loopback
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918 §3).
    case privateUse
    /// `100.64.0.0/10`, carrier-grade NAT's shared address space (RFC 6598 §7).
    case sharedAddressSpace
    /// `169.254.0.0/16` (RFC 3927 §2.1), `fe80::/10` (RFC 4291 §2.5.6).
    case linkLocal
    /// `fc00::/7`, unique local addresses (RFC 4193 §3.1).
    case uniqueLocal
    /// `192.0.0.0/24` (RFC 6890 §2.1), `2001::/23` (RFC 2928).
    case ietfProtocolAssignments
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24` (RFC 5737 §3), `2001:db8::/32` (RFC 3849 §4),
    /// `3fff::/20` (RFC 9637 §2).
    case documentation
    /// `198.18.0.0/15` (RFC 2544 appendix C.2.2), `2001:2::/48` (RFC 5180 §8).
    case benchmarking
    /// `::ffff:0:0/96`, IPv4-mapped addresses (RFC 4291 §2.5.5.2).
    case ipv4Mapped
    /// `64:ff9b::/96`, the well-known NAT64 prefix (RFC 6052 §2.1), and `64:ff9b:1::/48` (RFC 8215 §3).
    case ipv4Translation
    /// `100::/64`, discard-only (RFC 6666 §4).
    case discardOnly
    /// `224.0.0.0/4` (RFC 5771 §3), `ff00::/8` (RFC 4291 §2.7).
    case multicast
    /// `240.0.0.0/4`, class E, reserved for future use (RFC 1112 §4).
    case reserved
    /// `255.255.255.255/32` (RFC 919 §7, RFC 8190 §3).
    case limitedBroadcast

    /// The block `address` lies in, or `nil` for an address of no special purpose.
    public init?(_ address: IPAddress) {
        switch address {
        case .v4(let address): self.init(address)
        case .v6(let address): self.init(address)
        }
    }

    /// The block an IPv4 address lies in; nested blocks are tested before the block holding them.
    public init?(_ address: IPv4Address) {
        let bits = address.rawValue
        if Self.bits(bits, in: 0x0000_0000, length: 8) {
            self = .thisNetwork
        } else if Self.bits(bits, in: 0x0A00_0000, length: 8) || Self.bits(bits, in: 0xAC10_0000, length: 12)
            || Self.bits(bits, in: 0xC0A8_0000, length: 16)
        {
            self = .privateUse
        } else if Self.bits(bits, in: 0x6440_0000, length: 10) {
            self = .sharedAddressSpace
        } else if Self.bits(bits, in: 0x7F00_0000, length: 8) {
            self = .loopback
        } else if Self.bits(bits, in: 0xA9FE_0000, length: 16) {
            self = .linkLocal
        } else if Self.bits(bits, in: 0xC000_0000, length: 24) {
            self = .ietfProtocolAssignments
        } else if Self.bits(bits, in: 0xC000_0200, length: 24) || Self.bits(bits, in: 0xC633_6400, length: 24)
            || Self.bits(bits, in: 0xCB00_7100, length: 24)
        {
            self = .documentation
        } else if Self.bits(bits, in: 0xC612_0000, length: 15) {
            self = .benchmarking
        } else if Self.bits(bits, in: 0xE000_0000, length: 4) {
            self = .multicast
        } else if bits == 0xFFFF_FFFF {
            self = .limitedBroadcast
        } else if Self.bits(bits, in: 0xF000_0000, length: 4) {
            self = .reserved
        } else {
            return nil
        }
    }

    /// The block an IPv6 address lies in; nested blocks are tested before the block holding them.
    public init?(_ address: IPv6Address) {
        if address.high == 0, address.low == 0 {
            self = .unspecified
        } else if address.high == 0, address.low == 1 {
            self = .loopback
        } else if Self.bits(address, in: (0, 0x0000_FFFF_0000_0000), length: 96) {
            self = .ipv4Mapped
        } else if Self.bits(address, in: (0x0064_FF9B_0000_0000, 0), length: 96)
            || Self.bits(address, in: (0x0064_FF9B_0001_0000, 0), length: 48)
        {
            self = .ipv4Translation
        } else if Self.bits(address, in: (0x0100_0000_0000_0000, 0), length: 64) {
            self = .discardOnly
        } else if Self.bits(address, in: (0x2001_0002_0000_0000, 0), length: 48) {
            self = .benchmarking
        } else if Self.bits(address, in: (0x2001_0000_0000_0000, 0), length: 23) {
            self = .ietfProtocolAssignments
        } else if Self.bits(address, in: (0x2001_0DB8_0000_0000, 0), length: 32)
            || Self.bits(address, in: (0x3FFF_0000_0000_0000, 0), length: 20)
        {
            self = .documentation
        } else if Self.bits(address, in: (0xFC00_0000_0000_0000, 0), length: 7) {
            self = .uniqueLocal
        } else if Self.bits(address, in: (0xFE80_0000_0000_0000, 0), length: 10) {
            self = .linkLocal
        } else if Self.bits(address, in: (0xFF00_0000_0000_0000, 0), length: 8) {
            self = .multicast
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .thisNetwork: "this network"
        case .unspecified: "unspecified"
        case .loopback: "loopback"
        case .privateUse: "private use"
        case .sharedAddressSpace: "shared address space"
        case .linkLocal: "link-local"
        case .uniqueLocal: "unique local"
        case .ietfProtocolAssignments: "IETF protocol assignments"
        case .documentation: "documentation"
        case .benchmarking: "benchmarking"
        case .ipv4Mapped: "IPv4-mapped"
        case .ipv4Translation: "IPv4/IPv6 translation"
        case .discardOnly: "discard-only"
        case .multicast: "multicast"
        case .reserved: "reserved"
        case .limitedBroadcast: "limited broadcast"
        }
    }

    /// Whether the first `length` bits (1 to 32) of `bits` are those of `prefix`.
    private static func bits(_ bits: UInt32, in prefix: UInt32, length: Int) -> Bool {
        bits >> (32 - length) == prefix >> (32 - length)
    }

    /// Whether the first `length` bits (1 to 128) of `address` are those of `prefix` (high and low halves).
    private static func bits(_ address: IPv6Address, in prefix: (high: UInt64, low: UInt64), length: Int) -> Bool {
        if length <= 64 {
            return address.high >> (64 - length) == prefix.high >> (64 - length)
        }
        return address.high == prefix.high && address.low >> (128 - length) == prefix.low >> (128 - length)
    }
}
