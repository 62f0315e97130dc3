import FirezoneTesting
import IPPacket
import Testing

struct IPNetworkTests {
    @Test(arguments: [
        "10.0.0.0/8", "0.0.0.0/0", "100.64.0.0/11", "1.2.3.4/32", "172.20.0.0/16",
        "fd00:2021:1111::/107", "::/0", "2001:db8::/32", "fd00::1/128", "::ffff:0.0.0.0/96",
    ])
    func parsesAndPrintsNetworks(_ text: String) throws {
        let network = try IPNetwork(parsing: text)
        #expect(network.description == text)
        #expect(try IPNetwork(parsing: network.description) == network)
        #expect(try IPNetwork(masking: text) == network)
        #expect(IPNetwork(text) == network)
    }

    @Test(arguments: [
        ("10.0.0.0", IPNetworkError.missingPrefixLength("10.0.0.0")),
        ("", .missingPrefixLength("")),
        ("x/8", .invalidAddress("x")),
        ("/8", .invalidAddress("")),
        ("10.0.0/8", .invalidAddress("10.0.0")),
        ("[fd00::]/8", .invalidAddress("[fd00::]")),
        ("10.0.0.0/", .invalidPrefixLength("")),
        ("10.0.0.0/+8", .invalidPrefixLength("+8")),
        ("10.0.0.0/ 8", .invalidPrefixLength(" 8")),
        ("10.0.0.0/8/8", .invalidPrefixLength("8/8")),
        ("10.0.0.0/0008", .invalidPrefixLength("0008")),
        ("10.0.0.0/256", .invalidPrefixLength("256")),
        ("10.0.0.0/33", .prefixLengthTooLong(33, maximum: 32)),
        ("fd00::/129", .prefixLengthTooLong(129, maximum: 128)),
        ("10.0.0.1/8", .hostBitsSet(address: IPAddress("10.0.0.1")!, prefixLength: 8)),
        ("fd00::1/64", .hostBitsSet(address: IPAddress("fd00::1")!, prefixLength: 64)),
        ("0.0.0.1/0", .hostBitsSet(address: IPAddress("0.0.0.1")!, prefixLength: 0)),
    ])
    func strictParsingRejectsWithATypedError(_ text: String, _ expected: IPNetworkError) {
        #expect(throws: expected) { try IPNetwork(parsing: text) }
        #expect(IPNetwork(text) == nil)
    }

    @Test func maskingClearsHostBitsAndStillRejectsTheRest() throws {
        #expect(try IPNetwork(masking: "10.1.2.3/16").description == "10.1.0.0/16")
        #expect(try IPNetwork(masking: "10.1.2.3/0").description == "0.0.0.0/0")
        #expect(try IPNetwork(masking: "fd00:100::ff:1/72").description == "fd00:100::/72")
        #expect(try IPNetwork(masking: "fd00::1:2:3:4/127").description == "fd00::1:2:3:4/127")
        #expect(try IPNetwork(masking: "fd00::1:2:3:5/127").description == "fd00::1:2:3:4/127")
        #expect(throws: IPNetworkError.prefixLengthTooLong(33, maximum: 32)) { try IPNetwork(masking: "10.1.2.3/33") }
        #expect(throws: IPNetworkError.missingPrefixLength("10.1.2.3")) { try IPNetwork(masking: "10.1.2.3") }
        let address = IPAddress("192.0.2.77")!
        #expect(try IPNetwork(masking: address, prefixLength: 24) == IPNetwork("192.0.2.0/24"))
        #expect(throws: IPNetworkError.hostBitsSet(address: address, prefixLength: 24)) {
            try IPNetwork(address: address, prefixLength: 24)
        }
        #expect(IPNetwork(host: address).description == "192.0.2.77/32")
        #expect(IPNetwork(host: IPAddress("fd00::7")!).description == "fd00::7/128")
    }

    @Test func containsItsAddressesOnly() throws {
        let v4 = try IPNetwork(parsing: "100.64.0.0/11")
        #expect(v4.contains(IPAddress("100.64.0.0")!))
        #expect(v4.contains(IPAddress("100.95.255.255")!))
        #expect(!v4.contains(IPAddress("100.96.0.0")!))
        #expect(!v4.contains(IPAddress("100.63.255.255")!))
        #expect(!v4.contains(IPAddress("::ffff:100.64.0.1")!))
        let v6 = try IPNetwork(parsing: "fd00:100::/72")
        #expect(v6.contains(IPAddress("fd00:100::00ff:1")!))
        #expect(!v6.contains(IPAddress("fd00:100:0:0:100::1")!))
        #expect(IPNetwork("0.0.0.0/0")!.contains(IPAddress("255.255.255.255")!))
        #expect(!IPNetwork("0.0.0.0/0")!.contains(IPAddress("::1")!))
        #expect(IPNetwork("::/0")!.contains(IPAddress("fd00::1")!))
        #expect(v4.contains(try IPNetwork(parsing: "100.80.0.0/12")))
        #expect(!v4.contains(try IPNetwork(parsing: "100.64.0.0/10")))
    }

    @Test func enumeratesAddresses() throws {
        let network = try IPNetwork(parsing: "100.64.0.0/11")
        #expect(network.size == 1 << 21)
        #expect(network.address(at: 257) == IPAddress("100.64.1.1"))
        #expect(network.address(at: network.size - 1) == IPAddress("100.95.255.255"))
        #expect(network.address(at: network.size) == nil)
        let v6 = try IPNetwork(parsing: "fd00:2021:1111::/107")
        #expect(v6.size == 1 << 21)
        #expect(v6.address(at: 0x1_0001) == IPAddress("fd00:2021:1111::1:1"))
        #expect(try IPNetwork(parsing: "fd00::/64").size == .max)
        #expect(try IPNetwork(parsing: "fd00::/63").address(at: .max) == IPAddress("fd00::ffff:ffff:ffff:ffff"))
    }

    @Test func ordersIPv4FirstThenByAddressThenShorterPrefixes() throws {
        let texts = ["fd00::/8", "10.0.0.0/8", "10.0.0.0/16", "9.0.0.0/8", "::/0", "10.1.0.0/16"]
        let sorted = try texts.map { text throws(IPNetworkError) in try IPNetwork(parsing: text) }.sorted()
        let expected = ["9.0.0.0/8", "10.0.0.0/8", "10.0.0.0/16", "10.1.0.0/16", "::/0", "fd00::/8"]
        #expect(sorted.map(\.description) == expected)
    }

    /// Random addresses and prefix lengths: masking then printing then strict parsing gives the same network.
    @Test(arguments: TestSeeds.seeds(count: 20))
    func randomNetworksRoundTripThroughText(seed: UInt64) throws {
        var rng = SeededRandomNumberGenerator(seed: seed)
        for _ in 0..<500 {
            let address = RandomNetworks.address(using: &rng)
            let length = UInt8.random(in: 0...IPNetwork.maximumPrefixLength(of: address.version), using: &rng)
            let network = try IPNetwork(masking: address, prefixLength: length)
            #expect(network.contains(address), "\(network) \(TestSeeds.replayHint(seed))")
            #expect(try IPNetwork(parsing: network.description) == network, "\(TestSeeds.replayHint(seed))")
        }
    }
}
