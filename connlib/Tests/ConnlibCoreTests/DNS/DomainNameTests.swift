import ConnlibCore
import Testing

@Suite struct DomainNameTests {
    @Test func namesAreKeptInLowerCase() throws {
        let name = try DomainName("GitLab.Corp.Example")
        #expect(name.labels == ["gitlab", "corp", "example"])
        #expect(name == (try DomainName("gitlab.corp.example")))
    }

    @Test func descriptionHasNoTrailingDotAndOneTrailingDotIsAccepted() throws {
        #expect((try DomainName("app.corp.")).description == "app.corp")
        #expect((try DomainName("app.corp")).description == "app.corp")
        #expect((try DomainName(".")) == DomainName.root)
        #expect(DomainName.root.description == ".")
    }

    @Test(arguments: ["", "a..b", ".a", "a.b..", ".."])
    func emptyLabelsAreRejected(_ text: String) {
        #expect(throws: DomainNameError.emptyLabel) { try DomainName(text) }
    }

    @Test func labelsLongerThan63BytesAreRejected() throws {
        _ = try DomainName(String(repeating: "a", count: 63) + ".corp")
        #expect(throws: DomainNameError.labelTooLong(64)) {
            try DomainName(String(repeating: "a", count: 64) + ".corp")
        }
    }

    @Test func namesLongerThan255WireBytesAreRejected() throws {
        // Four labels of 62 bytes and one of 1: 4 * 63 + 2 + 1 = 255 bytes on the wire.
        let longest = Array(repeating: String(repeating: "a", count: 62), count: 4).joined(separator: ".") + ".b"
        #expect(try DomainName(longest).wireLength == 255)
        #expect(throws: DomainNameError.nameTooLong) { try DomainName(longest + "b") }
    }

    @Test func underscoresOfServiceNamesAreAllowedButSpacesAndNonASCIIAreNot() throws {
        #expect((try DomainName("_sip._tcp.corp")).labels == ["_sip", "_tcp", "corp"])
        #expect(throws: DomainNameError.invalidCharacter(UInt8(ascii: " "))) { try DomainName("a b.corp") }
        #expect(throws: DomainNameError.invalidCharacter(0xC3)) { try DomainName("ä.corp") }
    }

    @Test func wireLabelsWithADotAreRejected() {
        #expect(throws: DomainNameError.invalidCharacter(UInt8(ascii: "."))) {
            try DomainName(wireLabels: [Array("a.b".utf8), Array("corp".utf8)])
        }
    }
}
