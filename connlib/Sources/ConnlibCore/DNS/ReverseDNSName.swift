import IPPacket

/// The names of reverse lookups: `d.c.b.a.in-addr.arpa` for IPv4 (RFC 1035 §3.5) and 32 nibbles under
/// `ip6.arpa` for IPv6 (RFC 3596 §2.5).
enum ReverseDNSName {
    /// The address a PTR question asks about, or nil when the name is not a complete reverse name.
    static func address(of name: DomainName) -> IPAddress? {
        let labels = name.labels
        guard labels.count >= 2, labels[labels.count - 1] == "arpa" else {
            return nil
        }
        let parts = labels.dropLast(2)
        switch labels[labels.count - 2] {
        case "in-addr":
            guard parts.count == 4 else {
                return nil
            }
            return IPv4Address(parts.reversed().joined(separator: ".")).map { .v4($0) }
        case "ip6":
            guard parts.count == 32 else {
                return nil
            }
            var high: UInt64 = 0
            var low: UInt64 = 0
            for (index, nibble) in parts.reversed().enumerated() {
                guard nibble.utf8.count == 1, let value = UInt64(nibble, radix: 16) else {
                    return nil
                }
                if index < 16 {
                    high = high << 4 | value
                } else {
                    low = low << 4 | value
                }
            }
            return .v6(IPv6Address(high: high, low: low))
        default:
            return nil
        }
    }
}
