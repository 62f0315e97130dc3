import FirezoneCrypto
import STUN

/// Firezone's time-limited relay credentials (Firezone's rust/relay/server/src/auth.rs): the portal mints them from the relay's secret,
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
        guard let colon = username.firstIndex(of: ":"), let expiry = Self.canonicalDecimal(username[..<colon]) else {
            return nil
        }
        return (expiry, username[username.index(after: colon)...])
    }

    /// The value of `text` if it is the one way `UInt64.description` writes a number: ASCII digits, no sign, no
    /// leading zero. Anything looser would let one credential be written as many usernames (`+1700000000`,
    /// `01700000000`, …), each of which would get its own quota.
    static func canonicalDecimal(_ text: Substring) -> UInt64? {
        let utf8 = text.utf8
        guard let first = utf8.first, utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            first != UInt8(ascii: "0") || utf8.count == 1
        else {
            return nil
        }
        return UInt64(text)
    }
}
