import CSodium

/// A deterministic cryptographic random generator: ChaCha20 (libsodium's `randombytes_buf_deterministic`) with
/// fast key erasure, so that a captured state reveals nothing already drawn.
///
/// Sans-IO cores draw no entropy of their own: the shell seeds this with 32 bytes from the operating system, and
/// tests with fixed seeds. Ephemeral keys, cookie secrets, nonces and STUN transaction IDs (which RFC 8489 §6
/// wants cryptographically random) come from here.
public struct KeyStream: RandomNumberGenerator, CustomStringConvertible {
    private var key: Bytes32

    public init(seed: Bytes32) {
        Sodium.ensureInitialized()
        self.key = seed
    }

    /// A stream keyed by a 64-bit seed: for a component that another stream seeds (a node's ICE agents and TURN
    /// allocations take theirs from the node's), and for tests.
    public init(seed: UInt64) {
        self.init(seed: Bytes32(storage: (seed, 0x6b65_7973_7472_6561, 0, 0)))
    }

    /// The next 32 random bytes.
    public mutating func nextBytes32() -> Bytes32 {
        var block = (Bytes32.zero, Bytes32.zero)
        defer { block = (.zero, .zero) }
        withUnsafeMutableBytes(of: &block) { block in
            self.key.withUnsafeBytes { key in
                randombytes_buf_deterministic(
                    block.baseAddress!,
                    block.count,
                    key.baseAddress!.assumingMemoryBound(to: UInt8.self)
                )
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
