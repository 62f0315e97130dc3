import CSodium

/// Thirty-two bytes in fixed inline storage: the shape of every WireGuard key, hash and chaining key.
///
/// A value type without heap storage, so that copying a key never allocates and zeroing it (``setZero()``)
/// really clears the only copy the owner holds. Equality runs in constant time.
public struct Bytes32: Sendable {
    public static let count = 32

    @usableFromInline
    package var storage: (UInt64, UInt64, UInt64, UInt64)

    public static let zero = Bytes32(storage: (0, 0, 0, 0))

    @inlinable
    package init(storage: (UInt64, UInt64, UInt64, UInt64)) {
        self.storage = storage
    }

    /// Exactly 32 bytes, or nil.
    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == Self.count else {
            return nil
        }
        self = .zero
        self.withUnsafeMutableBytes { storage in
            for (index, byte) in bytes.enumerated() {
                storage[index] = byte
            }
        }
    }

    /// The first 32 bytes at `pointer`.
    package init(copying pointer: UnsafeRawPointer) {
        self = .zero
        self.withUnsafeMutableBytes { storage in
            storage.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: Self.count))
        }
    }

    /// Lends the bytes through a stack copy, which is wiped afterwards with `sodium_memzero` (a plain store of
    /// zeros to a dying variable is a dead store the optimiser may drop).
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        var copy = self.storage
        return try Swift.withUnsafeMutableBytes(of: &copy) { (raw) throws(E) -> R in
            defer { sodium_memzero(raw.baseAddress, raw.count) }
            return try body(UnsafeRawBufferPointer(raw))
        }
    }

    @inlinable
    public mutating func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try Swift.withUnsafeMutableBytes(of: &self.storage) { (raw) throws(E) -> R in try body(raw) }
    }

    /// The bytes as an array, for tests and configuration output only.
    public var bytes: [UInt8] {
        self.withUnsafeBytes { Array($0) }
    }

    /// Clears the key material (wireguard-go's `setZero`) with `sodium_memzero`, which the optimiser cannot drop.
    public mutating func setZero() {
        Swift.withUnsafeMutableBytes(of: &self.storage) { sodium_memzero($0.baseAddress, $0.count) }
    }

    public var isZero: Bool {
        (self.storage.0 | self.storage.1 | self.storage.2 | self.storage.3) == 0
    }
}

extension Bytes32: Equatable {
    /// Constant time: the comparison never stops at the first differing byte.
    public static func == (lhs: Bytes32, rhs: Bytes32) -> Bool {
        let difference =
            (lhs.storage.0 ^ rhs.storage.0) | (lhs.storage.1 ^ rhs.storage.1)
            | (lhs.storage.2 ^ rhs.storage.2) | (lhs.storage.3 ^ rhs.storage.3)
        return difference == 0
    }
}
