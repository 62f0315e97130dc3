import RelayCore
import Testing

struct RelayCredentialsTests {
    /// Reference §3.2's vector, checked independently with Python's hashlib.
    @Test func matchesTheReferenceVector() {
        let password = RelayCredentials.password(
            username: "1685984278:uvdgKvS9GXYZ_vmv", secret: "1cab293a-4032-46f4-862a-40e5d174b0d2"
        )
        #expect(password == "6xUIoZ+QvxKhRasLifwfRkMXl+ETLJUsFkHlXjlHAkg")
    }

    @Test func mintsUsernamesThatCarryTheirExpiry() {
        let (username, password) = RelayCredentials.mint(expiry: 1_700_000_000, salt: "a:b", secret: "s")
        #expect(username == "1700000000:a:b")
        #expect(RelayCredentials.expiry(of: username) == 1_700_000_000)
        #expect(RelayCredentials.password(username: username, secret: "s") == password)
        #expect(RelayCredentials.password(username: username, secret: "t") != password)
    }

    @Test(arguments: ["", "salt", ":salt", "-1:salt", "1e9:salt", "18446744073709551616:x"])
    func rejectsUsernamesWithoutAnExpiry(username: String) {
        #expect(RelayCredentials.expiry(of: username) == nil)
        #expect(RelayCredentials.password(username: username, secret: "s") == nil)
    }
}
