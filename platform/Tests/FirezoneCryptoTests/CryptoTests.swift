import FirezoneCrypto
import Testing

/// The primitives against their standards' vectors.
struct CryptoTests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ])
    func sha256MatchesFIPS180(input: String, digest: String) {
        #expect(Hex.encode(SHA256.hash(input.utf8)) == digest)
    }

    /// Firezone's rust/relay/server/src/auth.rs relay credential vector: base64 without padding of SHA-256("<expiry>:<secret>:<salt>").
    @Test func sha256MakesFirezonesRelayPassword() {
        let digest = SHA256.hash("1685984278:1cab293a-4032-46f4-862a-40e5d174b0d2:uvdgKvS9GXYZ_vmv".utf8)
        #expect(Base64.encode(digest, padding: false) == "6xUIoZ+QvxKhRasLifwfRkMXl+ETLJUsFkHlXjlHAkg")
    }

    @Test(arguments: [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
    ])
    func md5MatchesRFC1321(input: String, digest: String) {
        #expect(Hex.encode(MD5.hash(input.utf8)) == digest)
    }

    /// RFC 2202 §3, test cases 1, 2, 3, 6, and the empty key and message.
    @Test(arguments: [
        ([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8), "b617318655057264e28bc0b6fb378c8ef146be00"),
        (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        (
            [UInt8](repeating: 0xaa, count: 20), [UInt8](repeating: 0xdd, count: 50),
            "125d7342b9ac11cd91a39af48aa17b4f63f175d3"
        ),
        (
            [UInt8](repeating: 0xaa, count: 80),
            Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        ),
        ([], [], "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d"),
    ])
    func hmacSHA1MatchesRFC2202(key: [UInt8], data: [UInt8], mac: String) {
        let oneShot = data.withUnsafeBytes { HMACSHA1.authenticationCode(for: $0, key: key) }
        #expect(Hex.encode(oneShot) == mac)
        // Fed in pieces, as the verifier does.
        var hmac = HMACSHA1(key: key)
        let middle = data.count / 2
        data[..<middle].withUnsafeBytes { hmac.update($0) }
        data[middle...].withUnsafeBytes { hmac.update($0) }
        #expect(Hex.encode(hmac.finalize()) == mac)
    }

    /// The CRC-32 check value of ISO-HDLC ("123456789"), and a few more known values.
    @Test(arguments: [
        ("123456789", UInt32(0xCBF4_3926)),
        ("", 0),
        ("a", 0xE8B7_BE43),
        ("The quick brown fox jumps over the lazy dog", 0x414F_A339),
    ])
    func crc32MatchesISOHDLC(input: String, crc: UInt32) {
        #expect(Array(input.utf8).withUnsafeBytes { CRC32.checksum($0) } == crc)
    }
}
