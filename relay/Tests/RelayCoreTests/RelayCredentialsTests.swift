import RelayCore
import Testing

struct RelayCredentialsTests {
    /// Firezone's rust/relay/server/src/auth.rs vector, checked independently with Python's hashlib.
    @Test func matchesTheReferenceVector() {
        let password = RelayCredentials.password(
            username: "1685984278:uvdgKvS9GXYZ_vmv",
            secret: "1cab293a-4032-46f4-862a-40e5d174b0d2"
        )
        #expect(password == "6xUIoZ+QvxKhRasLifwfRkMXl+ETLJUsFkHlXjlHAkg")
    }

    @Test func mintsUsernamesThatCarryTheirExpiry() {
        let (username, password) = RelayCredentials.mint(expiry: 1_700_000_000, salt: "a:b", secret: "s")
        #expect(username == "1700000000:a:b")
        #expect(RelayCredentials.expiry(of: username) == 1_700_000_000)
        #expect(RelayCredentials.password(username: username, secret: "s") == password)
        #expect(RelayCredentials.password(username: username, secret: "t") != password)
        #expect(RelayCredentials.expiry(of: "0:salt") == 0)
    }

    /// The expiry is read in its one canonical form, so that one credential cannot be written as many usernames.
    @Test(arguments: [
        "", "salt", ":salt", "-1:salt", "1e9:salt", "18446744073709551616:x",
        "+1700000000:salt", "01700000000:salt", "00:salt", " 1700000000:salt", "1700000000 :salt", "0x65:salt",
    ])
    func rejectsUsernamesWithoutAnExpiry(username: String) {
        #expect(RelayCredentials.expiry(of: username) == nil)
        #expect(RelayCredentials.password(username: username, secret: "s") == nil)
    }
}
