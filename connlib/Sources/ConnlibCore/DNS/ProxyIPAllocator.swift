import IPPacket

/// Hands out proxy addresses one after the other from the proxy ranges, never one of the DNS sentinels (Firezone's
/// `IpProvider::for_resources` in rust/connlib/tunnel/src/client.rs).
///
/// IPv4 starts at 100.96.0.1, the first host of 100.96.0.0/11. IPv6 starts at fd00:2021:1111:8000::1, not at the
/// first address of the /107 as connlib does: fd00:2021:1111:8000:: is the Subnet-Router anycast address of its
/// /64 (RFC 4291 §2.6.1), which a host must not use as a unicast destination.
struct ProxyIPAllocator: Sendable {
    /// The offsets into the proxy networks of the next addresses to hand out.
    private var nextV4: UInt64 = 1
    private var nextV6: UInt64 = 1

    /// Continues after every address in `used`, so that re-seeded records never collide with new ones.
    init(after used: some Sequence<IPAddress>) {
        for address in used {
            switch address {
            case .v4(let v4):
                guard case .v4(let base) = AddressPlan.proxyV4.address, AddressPlan.proxyV4.contains(address) else {
                    continue
                }
                self.nextV4 = max(self.nextV4, UInt64(v4.rawValue - base.rawValue) + 1)
            case .v6(let v6):
                guard case .v6(let base) = AddressPlan.proxyV6.address, AddressPlan.proxyV6.contains(address) else {
                    continue
                }
                self.nextV6 = max(self.nextV6, v6.low - base.low + 1)
            }
        }
    }

    /// Up to `count` new IPv4 addresses; fewer once the range is spent.
    mutating func nextIPv4(_ count: Int) -> [IPAddress] {
        Self.take(count, from: AddressPlan.proxyV4, offset: &self.nextV4, lastUsable: AddressPlan.proxyV4.size - 2)
    }

    /// Up to `count` new IPv6 addresses; fewer once the range is spent.
    mutating func nextIPv6(_ count: Int) -> [IPAddress] {
        Self.take(count, from: AddressPlan.proxyV6, offset: &self.nextV6, lastUsable: AddressPlan.proxyV6.size - 1)
    }

    /// IPv4 stops before the broadcast address, as `Ipv4Network::hosts` does.
    private static func take(
        _ count: Int,
        from network: IPNetwork,
        offset: inout UInt64,
        lastUsable: UInt64
    )
        -> [IPAddress]
    {
        var addresses: [IPAddress] = []
        addresses.reserveCapacity(count)
        while addresses.count < count, offset <= lastUsable, let address = network.address(at: offset) {
            offset += 1
            if !AddressPlan.isSentinel(address) {
                addresses.append(address)
            }
        }
        return addresses
    }
}
