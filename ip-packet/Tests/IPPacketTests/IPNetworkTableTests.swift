import FirezoneTesting
import IPPacket
import Testing

struct IPNetworkTableTests {
    @Test func theLongestMatchingPrefixWins() throws {
        var table = IPNetworkTable<String>()
        for (text, value) in [
            ("0.0.0.0/0", "default"), ("10.0.0.0/8", "ten"), ("10.1.0.0/16", "ten-one"), ("10.1.2.3/32", "host"),
            ("::/0", "default6"), ("fd00::/8", "ula"), ("fd00:2021:1111::/107", "tunnel"),
        ] {
            table[try IPNetwork(parsing: text)] = value
        }
        func match(_ text: String) -> String? {
            table.longestMatch(for: IPAddress(text)!)?.value
        }
        #expect(match("10.1.2.3") == "host")
        #expect(match("10.1.2.4") == "ten-one")
        #expect(match("10.2.0.1") == "ten")
        #expect(match("192.0.2.1") == "default")
        #expect(match("fd00:2021:1111::5") == "tunnel")
        #expect(match("fd00:2021:1112::5") == "ula")
        #expect(match("2001:db8::1") == "default6")
        #expect(table.longestMatch(for: IPAddress("10.1.9.9")!)?.network == IPNetwork("10.1.0.0/16"))

        table[try IPNetwork(parsing: "10.1.0.0/16")] = nil
        #expect(match("10.1.2.4") == "ten")
        table.removeValue(for: try IPNetwork(parsing: "0.0.0.0/0"))
        #expect(match("192.0.2.1") == nil)
        #expect(match("2001:db8::1") == "default6", "IPv4 and IPv6 are separate")
        #expect(table.count == 5)
    }

    @Test func anIPv4MappedAddressDoesNotMatchIPv4Networks() throws {
        let table = IPNetworkTable([(try IPNetwork(parsing: "10.0.0.0/8"), 1)])
        #expect(table.longestMatch(for: IPAddress("::ffff:10.0.0.1")!) == nil)
        #expect(table.longestMatch(for: IPAddress("10.0.0.1")!)?.value == 1)
    }

    @Test func updatesReplaceAndReportThePreviousValue() throws {
        var table = IPNetworkTable<Int>()
        let network = try IPNetwork(parsing: "fd00::/64")
        #expect(table.updateValue(1, for: network) == nil)
        #expect(table.updateValue(2, for: network) == 1)
        #expect(table.count == 1)
        #expect(table[network] == 2)
        #expect(table.removeValue(for: network) == 2)
        #expect(table.removeValue(for: network) == nil)
        #expect(table.isEmpty)
        #expect(table.longestMatch(for: IPAddress("fd00::1")!) == nil)
    }

    @Test func entriesAreInNetworkOrderWhateverTheInsertionOrder() throws {
        let texts = ["fd00::/8", "10.0.0.0/16", "10.0.0.0/8", "::/0", "9.0.0.0/8", "10.1.0.0/16"]
        var forward = IPNetworkTable<String>()
        var backward = IPNetworkTable<String>()
        for text in texts {
            forward[try IPNetwork(parsing: text)] = text
        }
        for text in texts.reversed() {
            backward[try IPNetwork(parsing: text)] = text
        }
        let expected = ["9.0.0.0/8", "10.0.0.0/8", "10.0.0.0/16", "10.1.0.0/16", "::/0", "fd00::/8"]
        #expect(forward.entries.map(\.value) == expected)
        #expect(forward.networks.map(\.description) == expected)
        #expect(forward == backward)
    }

    /// Random tables and addresses against a brute-force reference: the longest containing network, found by
    /// checking every network. Addresses are drawn near the networks so that most lookups match something.
    @Test(arguments: TestSeeds.seeds(count: 40))
    func matchesABruteForceReference(seed: UInt64) throws {
        var rng = SeededRandomNumberGenerator(seed: seed)
        var table = IPNetworkTable<Int>()
        var reference: [IPNetwork: Int] = [:]
        for step in 0..<300 {
            let address = RandomNetworks.address(using: &rng)
            let length = UInt8.random(in: 0...IPNetwork.maximumPrefixLength(of: address.version), using: &rng)
            let network = try IPNetwork(masking: address, prefixLength: length)
            let removes = Int.random(in: 0..<5, using: &rng) == 0
            if removes, let victim = reference.keys.sorted().randomElement(using: &rng) {
                #expect(table.removeValue(for: victim) == reference.removeValue(forKey: victim))
            } else {
                #expect(table.updateValue(step, for: network) == reference.updateValue(step, forKey: network))
            }
        }
        #expect(table.count == reference.count)
        #expect(table.entries.map(\.network) == reference.keys.sorted())

        let networks = reference.keys.sorted()
        for _ in 0..<2_000 {
            let address =
                Bool.random(using: &rng)
                ? RandomNetworks.address(using: &rng)
                : networks.randomElement(using: &rng).flatMap { $0.address(at: UInt64.random(in: 0...3, using: &rng)) }
                    ?? RandomNetworks.address(using: &rng)
            let expected = networks.filter { $0.contains(address) }.max { $0.prefixLength < $1.prefixLength }
            let actual = table.longestMatch(for: address)
            #expect(actual?.network == expected, "\(address) \(TestSeeds.replayHint(seed))")
            #expect(actual?.value == expected.flatMap { reference[$0] }, "\(address) \(TestSeeds.replayHint(seed))")
        }
    }
}
