import CSodium

/// libsodium picks its fastest implementations (AVX2 ChaCha20, for one) in `sodium_init`, which is idempotent and
/// thread-safe; until then it runs portable reference code. Every caller of libsodium calls this first.
public enum Sodium {
    private static let initialized: Bool = sodium_init() >= 0

    @inline(__always)
    public static func ensureInitialized() {
        precondition(Self.initialized, "sodium_init failed")
    }
}
