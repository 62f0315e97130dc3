import FirezoneCrypto
import STUN
import Testing

/// STUN's long-term key derivation.
struct LongTermCredentialsTests {
    /// RFC 8489 §9.2.2: MD5 over "username:realm:password".
    @Test func longTermKeyIsMD5OfTheJoinedCredentials() {
        let key = LongTermCredentials.key(username: "user", realm: "realm", password: "pass")
        #expect(key == MD5.hash("user:realm:pass".utf8))
        #expect(key.count == 16)
    }
}
