/// The 96-bit identifier that ties a STUN response to its request.
///
/// RFC 8489 §5:
/// > The transaction ID is a 96-bit identifier, used to uniquely identify STUN transactions. [...] the transaction
/// > ID MUST be uniformly and randomly chosen from the interval 0 .. 2**96-1 and MUST be cryptographically random.
///
/// Stored as two integers so it is hashed, compared and written without allocation. The generator is the
/// caller's (sans-IO): pass a cryptographically secure one in production.
public struct TransactionID: Hashable, Sendable, CustomStringConvertible {
    /// Bytes 0–3 of the transaction ID, in network order.
    public var high: UInt32
    /// Bytes 4–11 of the transaction ID, in network order.
    public var low: UInt64

    @inlinable
    public init(high: UInt32, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The transaction ID spelled by exactly twelve bytes.
    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == STUNConstants.transactionIDLength, "a transaction ID has 12 bytes")
        var high: UInt32 = 0
        var low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 4 {
                high = high << 8 | UInt32(byte)
            } else {
                low = low << 8 | UInt64(byte)
            }
        }
        self.init(high: high, low: low)
    }

    /// A transaction ID drawn from `generator`.
    @inlinable
    public init<R: RandomNumberGenerator>(using generator: inout R) {
        self.init(high: UInt32(truncatingIfNeeded: generator.next()), low: generator.next())
    }

    /// The twelve bytes, in network order.
    public var bytes: [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: self.high >> (24 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: self.low >> (56 - 8 * $0)) }
    }

    /// Lower-case hex, 24 digits.
    public var description: String {
        let high = String(self.high, radix: 16)
        let low = String(self.low, radix: 16)
        return String(repeating: "0", count: 8 - high.count) + high + String(repeating: "0", count: 16 - low.count)
            + low
    }
}
