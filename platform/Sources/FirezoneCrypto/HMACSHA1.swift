import COpenSSL

/// HMAC-SHA1 (RFC 2104), the MAC of STUN's MESSAGE-INTEGRITY, through OpenSSL 3's EVP_MAC interface.
///
/// Incremental, because the verifier feeds the message in three pieces (RFC 8489 §14.5 adjusts the header's
/// length field) without copying it.
package struct HMACSHA1: ~Copyable {
    /// RFC 8489 §14.5:
    /// > Since it uses the SHA-1 hash, the HMAC will be 20 bytes.
    package static let length = 20

    private let context: OpaquePointer

    package init(key: [UInt8]) {
        guard let context = EVP_MAC_CTX_new(OpenSSLAlgorithms.hmac) else {
            preconditionFailure("EVP_MAC_CTX_new failed")
        }
        self.context = context
        let result = withUnsafeTemporaryAllocation(of: OSSL_PARAM.self, capacity: 2) { parameters in
            OSSL_MAC_PARAM_DIGEST.withCString { name in
                "SHA1".withCString { digest in
                    parameters[0] = OSSL_PARAM_construct_utf8_string(name, UnsafeMutablePointer(mutating: digest), 0)
                    parameters[1] = OSSL_PARAM_construct_end()
                    // An empty key is a valid HMAC key, but a null key pointer asks OpenSSL to keep the previous
                    // key; point at a byte that is not read.
                    return withUnsafeBytes(of: UInt8(0)) { empty in
                        key.withUnsafeBytes { key in
                            EVP_MAC_init(
                                context,
                                key.baseAddress ?? empty.baseAddress,
                                key.count,
                                parameters.baseAddress
                            )
                        }
                    }
                }
            }
        }
        precondition(result == 1, "EVP_MAC_init failed for HMAC-SHA1")
    }

    deinit {
        EVP_MAC_CTX_free(self.context)
    }

    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            return
        }
        let result = EVP_MAC_update(self.context, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        precondition(result == 1, "EVP_MAC_update failed")
    }

    /// The 20-byte MAC of everything added.
    package consuming func finalize() -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Self.length)
        var written = 0
        let result = output.withUnsafeMutableBufferPointer { output in
            EVP_MAC_final(self.context, output.baseAddress, &written, output.count)
        }
        precondition(result == 1 && written == Self.length, "EVP_MAC_final failed")
        return output
    }

    /// The MAC of `bytes` under `key`.
    package static func authenticationCode(for bytes: UnsafeRawBufferPointer, key: [UInt8]) -> [UInt8] {
        var hmac = HMACSHA1(key: key)
        hmac.update(bytes)
        return hmac.finalize()
    }
}
