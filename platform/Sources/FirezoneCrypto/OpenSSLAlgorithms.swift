import COpenSSL

/// The OpenSSL 3 algorithm objects STUN uses, fetched once from the default provider.
///
/// Fetching walks the provider's tables and takes a lock; doing it per message would cost more than the hash.
enum OpenSSLAlgorithms {
    // `nonisolated(unsafe)`: these are only handed to EVP_MAC_CTX_new and EVP_Digest, which read them and bump
    // their reference counts atomically, and openssl-threads(7) says "Objects are thread-safe as long as the API's
    // being invoked don't modify the object". They are never freed.
    nonisolated(unsafe) static let hmac: OpaquePointer = fetchMAC("HMAC")
    nonisolated(unsafe) static let md5: OpaquePointer = fetchDigest("MD5")
    nonisolated(unsafe) static let sha256: OpaquePointer = fetchDigest("SHA256")

    private static func fetchMAC(_ name: String) -> OpaquePointer {
        guard let mac = EVP_MAC_fetch(nil, name, nil) else {
            preconditionFailure("OpenSSL's default provider has no \(name)")
        }
        return mac
    }

    private static func fetchDigest(_ name: String) -> OpaquePointer {
        guard let digest = EVP_MD_fetch(nil, name, nil) else {
            preconditionFailure("OpenSSL's default provider has no \(name)")
        }
        return digest
    }

    /// The one-shot digest of `bytes` with `digest`, whose output has `length` bytes.
    static func digest(_ bytes: UnsafeRawBufferPointer, with digest: OpaquePointer, length: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: length)
        var written: UInt32 = 0
        let result = output.withUnsafeMutableBufferPointer { output in
            // A null data pointer is fine for zero bytes, but give OpenSSL a real one regardless.
            withUnsafeBytes(of: UInt8(0)) { empty in
                EVP_Digest(
                    bytes.baseAddress ?? empty.baseAddress,
                    bytes.count,
                    output.baseAddress,
                    &written,
                    digest,
                    nil
                )
            }
        }
        precondition(result == 1 && written == length, "EVP_Digest failed")
        return output
    }
}
