/// SHA-256 (FIPS 180-4), through OpenSSL 3.
///
/// Public because Firezone's relay credentials are made with it (Firezone's rust/relay/server/src/auth.rs):
/// `password = base64_nopad(SHA256("<expiry>:<secret>:<salt>"))`.
public enum SHA256 {
    public static let digestLength = 32

    /// The 32-byte digest of `bytes`.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        let bytes = Array(bytes)
        return bytes.withUnsafeBytes {
            OpenSSLAlgorithms.digest($0, with: OpenSSLAlgorithms.sha256, length: Self.digestLength)
        }
    }
}
