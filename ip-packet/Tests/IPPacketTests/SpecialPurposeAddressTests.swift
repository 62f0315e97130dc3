import IPPacket
import Testing

struct SpecialPurposeAddressTests {
    /// One block of the registries: its first and last address, and the addresses just outside it (`nil` at the
    /// ends of the address space).
    struct Block: Sendable, CustomTestStringConvertible {
        let network: String
        let purpose: SpecialPurposeAddress
        let first: String
        let last: String
        let below: String?
        let above: String?

        var testDescription: String { "\(self.network) \(self.purpose)" }
    }

    static let blocks: [Block] = [
        Block(
            network: "0.0.0.0/8",
            purpose: .thisNetwork,
            first: "0.0.0.0",
            last: "0.255.255.255",
            below: nil,
            above: "1.0.0.0"
        ),
        Block(
            network: "10.0.0.0/8",
            purpose: .privateUse,
            first: "10.0.0.0",
            last: "10.255.255.255",
            below: "9.255.255.255",
            above: "11.0.0.0"
        ),
        Block(
            network: "100.64.0.0/10",
            purpose: .sharedAddressSpace,
            first: "100.64.0.0",
            last: "100.127.255.255",
            below: "100.63.255.255",
            above: "100.128.0.0"
        ),
        Block(
            network: "127.0.0.0/8",
            purpose: .loopback,
            first: "127.0.0.0",
            last: "127.255.255.255",
            below: "126.255.255.255",
            above: "128.0.0.0"
        ),
        Block(
            network: "169.254.0.0/16",
            purpose: .linkLocal,
            first: "169.254.0.0",
            last: "169.254.255.255",
            below: "169.253.255.255",
            above: "169.255.0.0"
        ),
        Block(
            network: "172.16.0.0/12",
            purpose: .privateUse,
            first: "172.16.0.0",
            last: "172.31.255.255",
            below: "172.15.255.255",
            above: "172.32.0.0"
        ),
        Block(
            network: "192.0.0.0/24",
            purpose: .ietfProtocolAssignments,
            first: "192.0.0.0",
            last: "192.0.0.255",
            below: "191.255.255.255",
            above: "192.0.1.0"
        ),
        Block(
            network: "192.0.2.0/24",
            purpose: .documentation,
            first: "192.0.2.0",
            last: "192.0.2.255",
            below: "192.0.1.255",
            above: "192.0.3.0"
        ),
        Block(
            network: "192.168.0.0/16",
            purpose: .privateUse,
            first: "192.168.0.0",
            last: "192.168.255.255",
            below: "192.167.255.255",
            above: "192.169.0.0"
        ),
        Block(
            network: "198.18.0.0/15",
            purpose: .benchmarking,
            first: "198.18.0.0",
            last: "198.19.255.255",
            below: "198.17.255.255",
            above: "198.20.0.0"
        ),
        Block(
            network: "198.51.100.0/24",
            purpose: .documentation,
            first: "198.51.100.0",
            last: "198.51.100.255",
            below: "198.51.99.255",
            above: "198.51.101.0"
        ),
        Block(
            network: "203.0.113.0/24",
            purpose: .documentation,
            first: "203.0.113.0",
            last: "203.0.113.255",
            below: "203.0.112.255",
            above: "203.0.114.0"
        ),
        Block(
            network: "224.0.0.0/4",
            purpose: .multicast,
            first: "224.0.0.0",
            last: "239.255.255.255",
            below: "223.255.255.255",
            above: "240.0.0.0"
        ),
        Block(
            network: "240.0.0.0/4",
            purpose: .reserved,
            first: "240.0.0.0",
            last: "255.255.255.254",
            below: "239.255.255.255",
            above: nil
        ),
        Block(
            network: "255.255.255.255/32",
            purpose: .limitedBroadcast,
            first: "255.255.255.255",
            last: "255.255.255.255",
            below: "255.255.255.254",
            above: nil
        ),
        Block(network: "::/128", purpose: .unspecified, first: "::", last: "::", below: nil, above: "::1"),
        Block(network: "::1/128", purpose: .loopback, first: "::1", last: "::1", below: "::", above: "::2"),
        Block(
            network: "::ffff:0:0/96",
            purpose: .ipv4Mapped,
            first: "::ffff:0.0.0.0",
            last: "::ffff:255.255.255.255",
            below: "::fffe:ffff:ffff",
            above: "::1:0:0:0"
        ),
        Block(
            network: "64:ff9b::/96",
            purpose: .ipv4Translation,
            first: "64:ff9b::",
            last: "64:ff9b::ffff:ffff",
            below: "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff",
            above: "64:ff9b::1:0:0"
        ),
        Block(
            network: "64:ff9b:1::/48",
            purpose: .ipv4Translation,
            first: "64:ff9b:1::",
            last: "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
            below: "64:ff9b:0:ffff:ffff:ffff:ffff:ffff",
            above: "64:ff9b:2::"
        ),
        Block(
            network: "100::/64",
            purpose: .discardOnly,
            first: "100::",
            last: "100::ffff:ffff:ffff:ffff",
            below: "ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            above: "100:0:0:1::"
        ),
        Block(
            network: "2001::/23",
            purpose: .ietfProtocolAssignments,
            first: "2001::",
            last: "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
            below: "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            above: "2001:200::"
        ),
        Block(
            network: "2001:2::/48",
            purpose: .benchmarking,
            first: "2001:2::",
            last: "2001:2:0:ffff:ffff:ffff:ffff:ffff",
            below: "2001:1:ffff:ffff:ffff:ffff:ffff:ffff",
            above: "2001:2:1::"
        ),
        Block(
            network: "2001:db8::/32",
            purpose: .documentation,
            first: "2001:db8::",
            last: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            below: "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
            above: "2001:db9::"
        ),
        Block(
            network: "3fff::/20",
            purpose: .documentation,
            first: "3fff::",
            last: "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",
            below: "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            above: "3fff:1000::"
        ),
        Block(
            network: "fc00::/7",
            purpose: .uniqueLocal,
            first: "fc00::",
            last: "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            below: "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            above: "fe00::"
        ),
        Block(
            network: "fe80::/10",
            purpose: .linkLocal,
            first: "fe80::",
            last: "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            below: "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            above: "fec0::"
        ),
        Block(
            network: "ff00::/8",
            purpose: .multicast,
            first: "ff00::",
            last: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            below: "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            above: nil
        ),
    ]

    @Test(arguments: Self.blocks)
    func everyAddressOfABlockFromFirstToLastHasItsPurpose(block: Block) throws {
        let network = try #require(IPNetwork(block.network))
        let first = try #require(IPAddress(block.first))
        let last = try #require(IPAddress(block.last))
        #expect(network.contains(first) && network.contains(last))
        #expect(network.address == first)
        #expect(SpecialPurposeAddress(first) == block.purpose)
        #expect(SpecialPurposeAddress(last) == block.purpose)
    }

    @Test(arguments: Self.blocks)
    func theAddressesJustOutsideABlockDoNotHaveItsPurpose(block: Block) throws {
        let network = try #require(IPNetwork(block.network))
        for text in [block.below, block.above].compactMap({ $0 }) {
            let outside = try #require(IPAddress(text))
            #expect(!network.contains(outside), "\(text)")
            #expect(SpecialPurposeAddress(outside) != block.purpose, "\(text)")
        }
    }

    @Test(arguments: ["1.1.1.1", "8.8.8.8", "100.63.255.255", "192.0.1.0", "223.255.255.255", "2606:4700::1111"])
    func aGlobalUnicastAddressHasNoSpecialPurpose(text: String) throws {
        #expect(SpecialPurposeAddress(try #require(IPAddress(text))) == nil)
    }

    /// The IPv4-mapped form of a private address is IPv4-mapped, not private: a policy that refuses IPv4-mapped
    /// addresses closes that path to the IPv4 checks (RFC 4291 §2.5.5.2).
    @Test func anIPv4MappedAddressIsClassifiedAsIPv4MappedWhateverItMaps() throws {
        #expect(SpecialPurposeAddress(try #require(IPAddress("::ffff:10.0.0.1"))) == .ipv4Mapped)
        #expect(SpecialPurposeAddress(try #require(IPAddress("::ffff:8.8.8.8"))) == .ipv4Mapped)
    }
}
