import COpenSSL
import FirezoneCrypto

/// BLAKE2s (RFC 7693) in WireGuard's three uses, from OpenSSL 3: HASH, HMAC (inside the KDF) and the keyed,
/// 16-byte MAC of MAC1/MAC2. libsodium has only BLAKE2b, so OpenSSL is the one library here that offers it.
///
/// These run per handshake message, not per data packet; each call sets up an OpenSSL context.
package enum BLAKE2s {
    // `nonisolated(unsafe)`: fetched once and never freed; openssl-threads(7): "Objects are thread-safe as long
    // as the API's being invoked don't modify the object", and contexts only read them.
    nonisolated(unsafe) private static let digest: OpaquePointer = {
        guard let digest = EVP_MD_fetch(nil, "BLAKE2S-256", nil) else {
            preconditionFailure("OpenSSL's default provider has no BLAKE2S-256")
        }
        return digest
    }()
    nonisolated(unsafe) private static let hmacAlgorithm: OpaquePointer = {
        guard let mac = EVP_MAC_fetch(nil, "HMAC", nil) else {
            preconditionFailure("OpenSSL's default provider has no HMAC")
        }
        return mac
    }()
    nonisolated(unsafe) private static let keyedAlgorithm: OpaquePointer = {
        guard let mac = EVP_MAC_fetch(nil, "BLAKE2SMAC", nil) else {
            preconditionFailure("OpenSSL's default provider has no BLAKE2SMAC")
        }
        return mac
    }()

    /// HASH(parts[0] || parts[1] || …).
    package static func hash(_ parts: UnsafeRawBufferPointer...) -> Bytes32 {
        guard let context = EVP_MD_CTX_new() else {
            preconditionFailure("EVP_MD_CTX_new failed")
        }
        defer { EVP_MD_CTX_free(context) }
        precondition(EVP_DigestInit_ex2(context, Self.digest, nil) == 1, "EVP_DigestInit_ex2 failed")
        for part in parts where part.count > 0 {
            precondition(EVP_DigestUpdate(context, part.baseAddress, part.count) == 1, "EVP_DigestUpdate failed")
        }
        var output = Bytes32.zero
        var written: UInt32 = 0
        let result = output.withUnsafeMutableBytes { EVP_DigestFinal_ex(context, $0.uint8Base, &written) }
        precondition(result == 1 && written == 32, "EVP_DigestFinal_ex failed")
        return output
    }

    /// HMAC-BLAKE2s(key, parts[0] || parts[1] || …), WireGuard's `HMAC`.
    package static func hmac(key: Bytes32, _ parts: UnsafeRawBufferPointer...) -> Bytes32 {
        Self.mac(Self.hmacAlgorithm, key: key, parameters: .hmacDigest, outputLength: 32, parts).0
    }

    /// Keyed BLAKE2s with a 16-byte output, WireGuard's `MAC` (for MAC1 and MAC2); `key` is 32 or 16 bytes.
    package static func mac(key: UnsafeRawBufferPointer, _ data: UnsafeRawBufferPointer) -> MAC {
        var key32 = Bytes32.zero
        defer { key32.setZero() }
        key32.withUnsafeMutableBytes { $0.copyMemory(from: key) }
        let (full, _) = Self.mac(
            Self.keyedAlgorithm,
            key: key32,
            keyLength: key.count,
            parameters: .outputSize16,
            outputLength: 16,
            [data]
        )
        return MAC(prefixOf: full)
    }

    private enum Parameters {
        case hmacDigest
        case outputSize16
    }

    private static func mac(
        _ algorithm: OpaquePointer,
        key: Bytes32,
        keyLength: Int = 32,
        parameters: Parameters,
        outputLength: Int,
        _ parts: [UnsafeRawBufferPointer]
    ) -> (Bytes32, Int) {
        guard let context = EVP_MAC_CTX_new(algorithm) else {
            preconditionFailure("EVP_MAC_CTX_new failed")
        }
        defer { EVP_MAC_CTX_free(context) }
        let initialized = withUnsafeTemporaryAllocation(of: OSSL_PARAM.self, capacity: 2) { list in
            var size = outputLength
            return OSSL_MAC_PARAM_DIGEST.withCString { digestName in
                "BLAKE2S-256".withCString { digestValue in
                    OSSL_MAC_PARAM_SIZE.withCString { sizeName in
                        switch parameters {
                        case .hmacDigest:
                            list[0] = OSSL_PARAM_construct_utf8_string(
                                digestName,
                                UnsafeMutablePointer(mutating: digestValue),
                                0
                            )
                        case .outputSize16:
                            list[0] = OSSL_PARAM_construct_size_t(sizeName, &size)
                        }
                        list[1] = OSSL_PARAM_construct_end()
                        return key.withUnsafeBytes { key in
                            EVP_MAC_init(context, key.uint8Base, keyLength, list.baseAddress)
                        }
                    }
                }
            }
        }
        precondition(initialized == 1, "EVP_MAC_init failed")
        for part in parts where part.count > 0 {
            precondition(EVP_MAC_update(context, part.uint8Base, part.count) == 1, "EVP_MAC_update failed")
        }
        var output = Bytes32.zero
        var written = 0
        let result = output.withUnsafeMutableBytes { EVP_MAC_final(context, $0.uint8Base, &written, 32) }
        precondition(result == 1 && written == outputLength, "EVP_MAC_final failed")
        return (output, written)
    }
}

/// A 16-byte MAC1, MAC2 or cookie value.
package struct MAC: Equatable, Sendable {
    var high: UInt64
    var low: UInt64

    package static let zero = MAC(high: 0, low: 0)

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    init(prefixOf bytes: Bytes32) {
        self.high = bytes.storage.0
        self.low = bytes.storage.1
    }

    init(copying pointer: UnsafeRawPointer) {
        self.high = pointer.loadUnaligned(as: UInt64.self)
        self.low = pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
    }

    func write(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: self.high, as: UInt64.self)
        pointer.storeBytes(of: self.low, toByteOffset: 8, as: UInt64.self)
    }

    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var copy = self
        return Swift.withUnsafeBytes(of: &copy) { body($0) }
    }

    /// Constant time.
    package static func == (lhs: MAC, rhs: MAC) -> Bool {
        ((lhs.high ^ rhs.high) | (lhs.low ^ rhs.low)) == 0
    }
}
