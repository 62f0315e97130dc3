/// MD5 (RFC 1321), through OpenSSL 3. STUN uses it only to derive long-term keys (RFC 8489 §9.2.2), where its
/// weaknesses as a hash do not matter to the protocol's security. `package` for the tests (RFC 1321's vectors).
package enum MD5 {
    package static let digestLength = 16

    package static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        let bytes = Array(bytes)
        return bytes.withUnsafeBytes {
            OpenSSLAlgorithms.digest($0, with: OpenSSLAlgorithms.md5, length: Self.digestLength)
        }
    }
}
