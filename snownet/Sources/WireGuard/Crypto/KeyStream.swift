import CSodium
import FirezoneCrypto

/// A deterministic cryptographic random generator: ChaCha20 (libsodium's `randombytes_buf_deterministic`) with
/// fast key erasure, so that a captured state reveals nothing already drawn.
///
/// Sans-IO cores draw no entropy of their own: the shell seeds this with 32 bytes from the operating system, and
/// tests with fixed seeds. Ephemeral keys, cookie secrets and nonces come from here.
public struct KeyStream: RandomNumberGenerator, CustomStringConvertible {
    private var key: Bytes32

    public init(seed: Bytes32) {
        Sodium.ensureInitialized()
        self.key = seed
    }

    /// The next 32 random bytes.
    public mutating func nextBytes32() -> Bytes32 {
        var block = (Bytes32.zero, Bytes32.zero)
        defer { block = (.zero, .zero) }
        withUnsafeMutableBytes(of: &block) { block in
            self.key.withUnsafeBytes { key in
                randombytes_buf_deterministic(block.baseAddress!, block.count, key.uint8Base)
            }
        }
        self.key = block.0
        return block.1
    }

    public mutating func next() -> UInt64 {
        self.nextBytes32().storage.0
    }

    public var description: String {
        "KeyStream(redacted)"
    }
}
