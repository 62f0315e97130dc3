import CSodium
import FirezoneCrypto

/// One-shot ChaCha20-Poly1305 (RFC 8439) and XChaCha20-Poly1305 from libsodium, for handshake fields and cookies:
/// a few dozen bytes per handshake, where setting up a per-key context (``TransportAEAD``) would not pay.
enum ChaCha20Poly1305 {
    static let tagLength = 16

    /// AEAD(key, counter, plaintext, aad): writes `plaintext.count + 16` bytes to `output`.
    /// The nonce is 32 zero bits followed by the little-endian counter (WireGuard §5.4.6).
    static func seal(
        key: Bytes32,
        counter: UInt64,
        plaintext: UnsafeRawBufferPointer,
        aad: UnsafeRawBufferPointer,
        output: UnsafeMutableRawPointer
    ) {
        Sodium.ensureInitialized()
        let nonce = Nonce(counter: counter)
        key.withUnsafeBytes { key in
            nonce.withUnsafeBytes { nonce in
                var tagLength: UInt64 = 0
                _ = crypto_aead_chacha20poly1305_ietf_encrypt_detached(
                    output.assumingMemoryBound(to: UInt8.self),
                    output.advanced(by: plaintext.count).assumingMemoryBound(to: UInt8.self),
                    &tagLength,
                    plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    UInt64(plaintext.count),
                    aad.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    UInt64(aad.count),
                    nil,
                    nonce.uint8Base,
                    key.uint8Base
                )
            }
        }
    }

    /// Opens `ciphertext` (which ends in its tag) into `output`; false if it does not authenticate.
    static func open(
        key: Bytes32,
        counter: UInt64,
        ciphertext: UnsafeRawBufferPointer,
        aad: UnsafeRawBufferPointer,
        output: UnsafeMutableRawPointer
    ) -> Bool {
        guard ciphertext.count >= Self.tagLength else {
            return false
        }
        Sodium.ensureInitialized()
        let length = ciphertext.count - Self.tagLength
        let nonce = Nonce(counter: counter)
        let result = key.withUnsafeBytes { key in
            nonce.withUnsafeBytes { nonce in
                crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                    output.assumingMemoryBound(to: UInt8.self),
                    nil,
                    ciphertext.uint8Base,
                    UInt64(length),
                    ciphertext.uint8Base + length,
                    aad.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    UInt64(aad.count),
                    nonce.uint8Base,
                    key.uint8Base
                )
            }
        }
        return result == 0
    }

    /// XAEAD(key, nonce, plaintext, aad) of the cookie reply (WireGuard §5.4.7), 24-byte random nonce.
    static func sealExtended(
        key: Bytes32,
        nonce: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        aad: UnsafeRawBufferPointer,
        output: UnsafeMutableRawPointer
    ) {
        Sodium.ensureInitialized()
        key.withUnsafeBytes { key in
            var tagLength: UInt64 = 0
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                output.assumingMemoryBound(to: UInt8.self),
                output.advanced(by: plaintext.count).assumingMemoryBound(to: UInt8.self),
                &tagLength,
                plaintext.uint8Base,
                UInt64(plaintext.count),
                aad.uint8Base,
                UInt64(aad.count),
                nil,
                nonce.uint8Base,
                key.uint8Base
            )
        }
    }

    static func openExtended(
        key: Bytes32,
        nonce: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        aad: UnsafeRawBufferPointer,
        output: UnsafeMutableRawPointer
    ) -> Bool {
        guard ciphertext.count >= Self.tagLength else {
            return false
        }
        Sodium.ensureInitialized()
        let length = ciphertext.count - Self.tagLength
        let result = key.withUnsafeBytes { key in
            crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                output.assumingMemoryBound(to: UInt8.self),
                nil,
                ciphertext.uint8Base,
                UInt64(length),
                ciphertext.uint8Base + length,
                aad.uint8Base,
                UInt64(aad.count),
                nonce.uint8Base,
                key.uint8Base
            )
        }
        return result == 0
    }

    /// The 96-bit nonce: four zero bytes, then the counter in little-endian order.
    struct Nonce {
        var bytes: (UInt32, UInt64)

        init(counter: UInt64) {
            self.bytes = (0, counter.littleEndian)
        }

        func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
            // A tuple of UInt32 then UInt64 has 4 bytes of alignment padding between them; lay it out by hand.
            var raw: (UInt64, UInt64) = (0, 0)
            return Swift.withUnsafeMutableBytes(of: &raw) { raw in
                raw.storeBytes(of: self.bytes.0, as: UInt32.self)
                raw.storeBytes(of: self.bytes.1, toByteOffset: 4, as: UInt64.self)
                return body(UnsafeRawBufferPointer(rebasing: raw[0..<12]))
            }
        }
    }
}
