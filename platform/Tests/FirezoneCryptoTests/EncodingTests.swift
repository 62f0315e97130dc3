import FirezoneCrypto
import Testing

/// Base64 and hex against RFC 4648 §10's vectors, and their refusals.
struct EncodingTests {
    @Test(arguments: [
        ("", "", ""),
        ("f", "Zg==", "Zg"),
        ("fo", "Zm8=", "Zm8"),
        ("foo", "Zm9v", "Zm9v"),
        ("foob", "Zm9vYg==", "Zm9vYg"),
        ("fooba", "Zm9vYmE=", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
    ])
    func base64MatchesRFC4648(input: String, padded: String, unpadded: String) {
        #expect(Base64.encode(Array(input.utf8)) == padded)
        #expect(Base64.encode(Array(input.utf8), padding: false) == unpadded)
        #expect(Base64.decode(padded) == Array(input.utf8))
    }

    /// Only canonical padded base64 decodes: keys must have one spelling.
    @Test(arguments: ["Zg", "Zg=", "Zh==", "Z===", "Zm9v!A==", "Zg==Zg==", "Zm=v"])
    func base64RefusesNonCanonicalText(text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test func hexRoundTripsEveryByte() {
        let bytes = (0...255).map { UInt8($0) }
        let text = Hex.encode(bytes)
        #expect(text.hasPrefix("000102") && text.hasSuffix("fdfeff"))
        #expect(Hex.decode(text) == bytes)
        #expect(Hex.decode(text.uppercased()) == bytes)
    }

    @Test(arguments: ["0", "0g", "zz", "abc", " a"])
    func hexRefusesMalformedText(text: String) {
        #expect(Hex.decode(text) == nil)
    }
}
