import COpenSSL
import CSodium
import FirezoneCrypto

/// ChaCha20-Poly1305 keyed once per session direction, sealing and opening transport data in place.
///
/// The data path's one crypto operation, so its implementation is chosen by measurement
/// (tests/benchmarks `wireguard.aead.*`); ``TransportCipher`` names the winner. Implementations are classes because
/// they own per-key state that must be freed and wiped when the session goes.
public protocol TransportAEAD: AnyObject {
    init(key: Bytes32)

    /// Encrypts `plaintext` in place with the nonce for `counter` and writes the 16-byte tag to `tag`.
    func seal(counter: UInt64, _ plaintext: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawPointer)

    /// Decrypts `ciphertext` in place if it and `tag` authenticate under `counter`. On false, `ciphertext` holds
    /// garbage and must be dropped.
    func open(counter: UInt64, _ ciphertext: UnsafeMutableRawBufferPointer, tag: UnsafeRawPointer) -> Bool
}

/// The transport AEAD the tunnel uses: OpenSSL with a per-key context, the fastest in our benchmarks
/// (docs/benchmarks.md: it re-initialises only the nonce per packet, where libsodium re-derives the Poly1305 key
/// schedule from scratch through a slower code path on this CPU class).
public typealias TransportCipher = OpenSSLChaCha20Poly1305

/// OpenSSL 3's ChaCha20-Poly1305 with one cipher context per key: per packet only the nonce is set.
///
/// A context with its provider state takes about 1.1 KB of heap, twice per session: most of an idle gateway
/// connection's memory. ``releaseContext()`` frees it until the next seal or open sets it up again from the key.
public final class OpenSSLChaCha20Poly1305: TransportAEAD {
    // `nonisolated(unsafe)`: fetched once, never freed, only read by contexts (openssl-threads(7)).
    nonisolated(unsafe) private static let cipher: OpaquePointer = {
        guard let cipher = EVP_CIPHER_fetch(nil, "ChaCha20-Poly1305", nil) else {
            preconditionFailure("OpenSSL's default provider has no ChaCha20-Poly1305")
        }
        return cipher
    }()

    private var key: Bytes32
    // Read on every packet: a class's stored `var` would otherwise cost a run-time exclusivity check per read. Only
    // the tunnel that owns the session touches it, one call at a time.
    @exclusivity(unchecked) private var keyedContext: OpaquePointer?

    public init(key: Bytes32) {
        self.key = key
        self.keyedContext = Self.makeContext(key: key)
    }

    deinit {
        self.releaseContext()
        self.key.setZero()
    }

    private static func makeContext(key: Bytes32) -> OpaquePointer {
        guard let context = EVP_CIPHER_CTX_new() else {
            preconditionFailure("EVP_CIPHER_CTX_new failed")
        }
        let result = key.withUnsafeBytes { key in
            EVP_CipherInit_ex2(context, Self.cipher, key.uint8Base, nil, -1, nil)
        }
        precondition(result == 1, "EVP_CipherInit_ex2 failed")
        return context
    }

    /// Whether the context is set up: false after ``releaseContext()`` until the next seal or open.
    public var hasContext: Bool {
        self.keyedContext != nil
    }

    /// Frees the context; the key stays, and the next seal or open sets a context up again.
    public func releaseContext() {
        // EVP_CIPHER_CTX_free cleanses the key schedule before freeing it.
        EVP_CIPHER_CTX_free(self.keyedContext)
        self.keyedContext = nil
    }

    private var context: OpaquePointer {
        if let context = self.keyedContext {
            return context
        }
        let context = Self.makeContext(key: self.key)
        self.keyedContext = context
        return context
    }

    public func seal(counter: UInt64, _ plaintext: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawPointer) {
        let context = self.context
        let nonce = ChaCha20Poly1305.Nonce(counter: counter)
        let initialized = nonce.withUnsafeBytes { nonce in
            EVP_CipherInit_ex2(context, nil, nil, nonce.uint8Base, 1, nil)
        }
        var written: Int32 = 0
        var final: Int32 = 0
        let updated =
            plaintext.count == 0
            ? 1
            : EVP_EncryptUpdate(
                context,
                plaintext.uint8Base,
                &written,
                plaintext.uint8Base,
                Int32(plaintext.count)
            )
        let finished = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) {
            EVP_EncryptFinal_ex(context, $0.baseAddress, &final)
        }
        let tagged = EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, 16, tag)
        precondition(initialized == 1 && updated == 1 && finished == 1 && tagged == 1, "ChaCha20-Poly1305 seal failed")
    }

    public func open(counter: UInt64, _ ciphertext: UnsafeMutableRawBufferPointer, tag: UnsafeRawPointer) -> Bool {
        let context = self.context
        let nonce = ChaCha20Poly1305.Nonce(counter: counter)
        let initialized = nonce.withUnsafeBytes { nonce in
            EVP_CipherInit_ex2(context, nil, nil, nonce.uint8Base, 0, nil)
        }
        guard initialized == 1,
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, 16, UnsafeMutableRawPointer(mutating: tag)) == 1
        else {
            return false
        }
        var written: Int32 = 0
        if ciphertext.count > 0 {
            guard
                EVP_DecryptUpdate(
                    context,
                    ciphertext.uint8Base,
                    &written,
                    ciphertext.uint8Base,
                    Int32(ciphertext.count)
                ) == 1
            else {
                return false
            }
        }
        var final: Int32 = 0
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) {
            EVP_DecryptFinal_ex(context, $0.baseAddress, &final) == 1
        }
    }
}

/// libsodium's ChaCha20-Poly1305 (IETF), which takes the key on every call: kept only to be compared against in
/// the known-answer tests.
package final class SodiumChaCha20Poly1305: TransportAEAD {
    private var key: Bytes32

    package init(key: Bytes32) {
        Sodium.ensureInitialized()
        self.key = key
    }

    deinit {
        self.key.setZero()
    }

    package func seal(counter: UInt64, _ plaintext: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawPointer) {
        let nonce = ChaCha20Poly1305.Nonce(counter: counter)
        self.key.withUnsafeBytes { key in
            nonce.withUnsafeBytes { nonce in
                var tagLength: UInt64 = 0
                let base = plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self)
                _ = crypto_aead_chacha20poly1305_ietf_encrypt_detached(
                    base,
                    tag.assumingMemoryBound(to: UInt8.self),
                    &tagLength,
                    base,
                    UInt64(plaintext.count),
                    nil,
                    0,
                    nil,
                    nonce.uint8Base,
                    key.uint8Base
                )
            }
        }
    }

    package func open(counter: UInt64, _ ciphertext: UnsafeMutableRawBufferPointer, tag: UnsafeRawPointer) -> Bool {
        let nonce = ChaCha20Poly1305.Nonce(counter: counter)
        return self.key.withUnsafeBytes { key in
            nonce.withUnsafeBytes { nonce in
                let base = ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self)
                return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                    base,
                    nil,
                    base,
                    UInt64(ciphertext.count),
                    tag.assumingMemoryBound(to: UInt8.self),
                    nil,
                    0,
                    nonce.uint8Base,
                    key.uint8Base
                ) == 0
            }
        }
    }
}
