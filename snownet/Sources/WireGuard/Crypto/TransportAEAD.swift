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

/// OpenSSL 3's ChaCha20-Poly1305 with one context per key: per packet only the nonce is set.
///
/// The context is the default provider's own (provider-cipher(7)), called through its function table rather than
/// the EVP layer, whose per-packet parameter handling in OpenSSL 3.0 costs a large share of a packet's encryption
/// (`fz_aead_functions` in COpenSSL's shim.h says what it skips). A context takes about 1 KB of heap, twice per
/// session: most of an idle gateway connection's memory. ``releaseContext()`` frees it until the next seal or open
/// sets it up again from the key.
public final class OpenSSLChaCha20Poly1305: TransportAEAD {
    // `nonisolated(unsafe)`: loaded once, never changed, only read; the cipher they come from is fetched once and
    // held in the table, never freed, so its provider stays loaded (openssl-threads(7)).
    nonisolated(unsafe) private static let functions: fz_aead_functions = {
        guard let cipher = EVP_CIPHER_fetch(nil, "ChaCha20-Poly1305", nil) else {
            preconditionFailure("OpenSSL's default provider has no ChaCha20-Poly1305")
        }
        var functions = fz_aead_functions()
        guard fz_aead_functions_load(cipher, &functions) == 1 else {
            preconditionFailure("OpenSSL's provider does not offer ChaCha20-Poly1305's functions")
        }
        return functions
    }()

    private var key: Bytes32
    // Read on every packet: a class's stored `var` would otherwise cost a run-time exclusivity check per read. Only
    // the tunnel that owns the session touches it, one call at a time.
    @exclusivity(unchecked) private var keyedContext: UnsafeMutableRawPointer?

    public init(key: Bytes32) {
        self.key = key
        self.keyedContext = Self.makeContext(key: key)
    }

    deinit {
        self.releaseContext()
        self.key.setZero()
    }

    private static func makeContext(key: Bytes32) -> UnsafeMutableRawPointer {
        let context = key.withUnsafeBytes { key in
            withUnsafePointer(to: Self.functions) { fz_aead_new_context($0, key.uint8Base, key.count) }
        }
        guard let context else {
            preconditionFailure("ChaCha20-Poly1305 context setup failed")
        }
        return context
    }

    /// Whether the context is set up: false after ``releaseContext()`` until the next seal or open.
    public var hasContext: Bool {
        self.keyedContext != nil
    }

    /// Frees the context; the key stays, and the next seal or open sets a context up again.
    public func releaseContext() {
        // The provider's free cleanses the key schedule before freeing it.
        if let context = self.keyedContext {
            Self.functions.freectx(context)
        }
        self.keyedContext = nil
    }

    private var context: UnsafeMutableRawPointer {
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
        let sealed = nonce.withUnsafeBytes { nonce in
            withUnsafePointer(to: Self.functions) { functions in
                fz_aead_seal(
                    functions,
                    context,
                    nonce.uint8Base,
                    nonce.count,
                    plaintext.uint8Base,
                    plaintext.count,
                    tag.assumingMemoryBound(to: UInt8.self)
                )
            }
        }
        precondition(sealed == 1, "ChaCha20-Poly1305 seal failed")
    }

    public func open(counter: UInt64, _ ciphertext: UnsafeMutableRawBufferPointer, tag: UnsafeRawPointer) -> Bool {
        let context = self.context
        let nonce = ChaCha20Poly1305.Nonce(counter: counter)
        return nonce.withUnsafeBytes { nonce in
            withUnsafePointer(to: Self.functions) { functions in
                fz_aead_open(
                    functions,
                    context,
                    nonce.uint8Base,
                    nonce.count,
                    ciphertext.uint8Base,
                    ciphertext.count,
                    tag.assumingMemoryBound(to: UInt8.self)
                ) == 1
            }
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
