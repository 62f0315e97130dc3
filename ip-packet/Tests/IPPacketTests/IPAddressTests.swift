import IPPacket
import Testing

struct IPAddressTests {
    @Test(arguments: [
        ("0.0.0.0", 0x0000_0000 as UInt32),
        ("10.0.0.1", 0x0A00_0001),
        ("255.255.255.255", 0xFFFF_FFFF),
        ("100.64.0.1", 0x6440_0001),
    ])
    func parsesAndPrintsDottedQuads(text: String, value: UInt32) {
        #expect(IPv4Address(text) == IPv4Address(rawValue: value))
        #expect(IPv4Address(rawValue: value).description == text)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1..2.3", "a.b.c.d", "1.2.3.4 ", "-1.2.3.4"])
    func rejectsMalformedIPv4(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    /// RFC 5952 §4 and §5: the canonical text form.
    @Test(arguments: [
        ("::", "::"),
        ("::1", "::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // §4.2.3: the first of equal runs
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  // §4.2.2: a single zero group stays
        ("fd00:2021:1111::", "fd00:2021:1111::"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),  // §4.2.3: the longest run
        ("::ffff:10.0.0.1", "::ffff:10.0.0.1"),  // §5: IPv4-mapped
        ("64:ff9b::10.0.0.1", "64:ff9b::a00:1"),
    ])
    func parsesAndPrintsCanonicalIPv6(text: String, canonical: String) throws {
        let address = try #require(IPv6Address(text))
        #expect(address.description == canonical)
        #expect(IPv6Address(canonical) == address)
    }

    @Test(arguments: [
        "", ":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "g::", "1:2:3:4:5:6:7::8",
        "::1.2.3", "1.2.3.4::", "fe80::1%eth0",
    ])
    func rejectsMalformedIPv6(text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test func parsesEitherFamilyAndBracketedIPv6() {
        #expect(IPAddress("10.1.2.3") == .v4(IPv4Address(10, 1, 2, 3)))
        #expect(IPAddress("[fd00::1]") == IPAddress("fd00::1"))
        #expect(IPAddress("fd00::1")?.version == .v6)
        #expect(IPAddress("example.com") == nil)
    }
}

struct IPSocketAddressTests {
    @Test(arguments: ["10.0.0.1:3478", "[fd00::1]:49152", "[::ffff:10.0.0.1]:1"])
    func roundTripsTheTextForm(text: String) throws {
        #expect(try #require(IPSocketAddress(text)).description == text)
    }

    @Test(arguments: [
        "10.0.0.1", "10.0.0.1:", "10.0.0.1:65536", "fd00::1:80", "[fd00::1]", "[10.0.0.1]:1", "[fd00::1:1",
    ])
    func rejectsMalformedText(text: String) {
        #expect(IPSocketAddress(text) == nil)
    }
}
