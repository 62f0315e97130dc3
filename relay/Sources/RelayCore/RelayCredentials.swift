import FirezoneCrypto
import STUN

/// Firezone's time-limited relay credentials (reference §3.2): the portal mints them from the relay's secret,
/// the relay recomputes the password to check a request, and neither side stores them.
///
/// `username = "<expiry unix seconds>:<salt>"`,
/// `password = base64 without padding (SHA-256("<expiry>:<secret>:<salt>"))`.
public enum RelayCredentials {
    /// The password for `username` under `secret`.
    public static func password(username: String, secret: String) -> String? {
        guard let (expiry, salt) = Self.split(username) else {
            return nil
        }
        let digest = SHA256.hash(Array("\(expiry):\(secret):\(salt)".utf8))
        return Base64.encode(digest, padding: false)
    }

    /// A username that expires at `expiry` (Unix seconds), with its password.
    public static func mint(expiry: UInt64, salt: String, secret: String) -> (username: String, password: String) {
        let username = "\(expiry):\(salt)"
        return (username, Self.password(username: username, secret: secret)!)
    }

    /// The expiry (Unix seconds) a username carries, if it has the `<expiry>:<salt>` form.
    public static func expiry(of username: String) -> UInt64? {
        Self.split(username)?.expiry
    }

    private static func split(_ username: String) -> (expiry: UInt64, salt: Substring)? {
        guard let colon = username.firstIndex(of: ":"), let expiry = UInt64(username[..<colon]) else {
            return nil
        }
        return (expiry, username[username.index(after: colon)...])
    }
}
