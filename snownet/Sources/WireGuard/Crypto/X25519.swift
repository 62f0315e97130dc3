import CSodium
import FirezoneCrypto
import Synchronization

/// Curve25519 Diffie-Hellman (RFC 7748) from libsodium, whose `crypto_scalarmult` clamps the scalar itself.
public enum X25519 {
    public static func publicKey(for secret: StaticSecret) -> PublicKey {
        Sodium.ensureInitialized()
        var output = Bytes32.zero
        output.withUnsafeMutableBytes { output in
            secret.rawValue.withUnsafeBytes { secret in
                _ = crypto_scalarmult_base(output.uint8Base, secret.uint8Base)
            }
        }
        return PublicKey(output)
    }

    /// The shared secret, or nil when `publicKey` is a low-order point and the result would be all zeros:
    /// WireGuard §5.4.2 requires rejecting those, and libsodium reports them with -1.
    static func sharedSecret(_ secret: StaticSecret, _ publicKey: PublicKey) -> Bytes32? {
        Sodium.ensureInitialized()
        Self.sharedSecretCounter?.count.add(1, ordering: .relaxed)
        var output = Bytes32.zero
        let result = output.withUnsafeMutableBytes { output in
            secret.rawValue.withUnsafeBytes { secret in
                publicKey.rawValue.withUnsafeBytes { publicKey in
                    crypto_scalarmult(output.uint8Base, secret.uint8Base, publicKey.uint8Base)
                }
            }
        }
        return result == 0 ? output : nil
    }
}

extension X25519 {
    /// Counts ``sharedSecret(_:_:)`` calls made by the current task, for tests that pin what a handshake costs
    /// (wireguard-go precomputes the static-static DH per peer so that an initiation costs one DH with the static
    /// key, not two).
    @TaskLocal package static var sharedSecretCounter: SharedSecretCounter?
}

package final class SharedSecretCounter: Sendable {
    package let count = Atomic<Int>(0)

    package init() {}
}

extension UnsafeRawBufferPointer {
    var uint8Base: UnsafePointer<UInt8> {
        self.baseAddress!.assumingMemoryBound(to: UInt8.self)
    }
}

extension UnsafeMutableRawBufferPointer {
    var uint8Base: UnsafeMutablePointer<UInt8> {
        self.baseAddress!.assumingMemoryBound(to: UInt8.self)
    }
}
