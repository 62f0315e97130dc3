import FirezoneCrypto

/// The key of STUN's long-term credential mechanism.
public enum LongTermCredentials {
    /// `MD5(username ":" realm ":" password)`, the MESSAGE-INTEGRITY key.
    ///
    /// RFC 8489 §9.2.2:
    /// > key = MD5(username ":" OpaqueString(realm) ":" OpaqueString(password))
    ///
    /// (RFC 5389 §15.4 used SASLprep where RFC 8489 uses OpaqueString.) The strings are used exactly as given, with
    /// neither SASLprep nor OpaqueString: Firezone's usernames, realm and passwords are ASCII
    /// (`<expiry>:<salt>`, `firezone`, base64), which both leave unchanged, and Firezone's Rust implementation
    /// does not prepare them either. A caller with non-ASCII credentials must prepare them first.
    public static func key(username: String, realm: String, password: String) -> [UInt8] {
        MD5.hash("\(username):\(realm):\(password)".utf8)
    }
}
