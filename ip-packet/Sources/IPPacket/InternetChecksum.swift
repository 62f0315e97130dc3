/// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit words.
///
/// Words are added as host-order numbers. Bytes in memory are summed as native words and byte-swapped once
/// at the end, which RFC 1071 §2(B) shows is the same sum, and lets the bulk loop read eight bytes at a time.
public struct InternetChecksum: Sendable {
    @usableFromInline
    var accumulator: UInt64 = 0

    @inlinable
    public init() {}

    /// Adds one 16-bit word.
    @inlinable
    public mutating func add(_ word: UInt16) {
        self.accumulator &+= UInt64(word)
    }

    /// Adds a 32-bit value as its two 16-bit words.
    @inlinable
    public mutating func add(_ value: UInt32) {
        self.accumulator &+= UInt64(value >> 16) &+ UInt64(value & 0xFFFF)
    }

    @inlinable
    public mutating func add(_ address: IPv4Address) {
        self.add(address.rawValue)
    }

    @inlinable
    public mutating func add(_ address: IPv6Address) {
        self.add(UInt32(truncatingIfNeeded: address.high >> 32))
        self.add(UInt32(truncatingIfNeeded: address.high))
        self.add(UInt32(truncatingIfNeeded: address.low >> 32))
        self.add(UInt32(truncatingIfNeeded: address.low))
    }

    @inlinable
    public mutating func add(_ address: IPAddress) {
        switch address {
        case .v4(let address): self.add(address)
        case .v6(let address): self.add(address)
        }
    }

    /// Adds bytes as big-endian words; an odd last byte is padded with a zero byte on the right (RFC 1071 §4.1).
    /// The bytes must start at an even offset of the summed data.
    @inlinable
    public mutating func add(bytes: UnsafeRawBufferPointer) {
        var native: UInt64 = 0
        var offset = 0
        let count = bytes.count
        // Summing 32-bit halves into a 64-bit accumulator cannot overflow for anything shorter than 16 GiB.
        while offset + 8 <= count {
            let chunk = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            native &+= (chunk >> 32) &+ (chunk & 0xFFFF_FFFF)
            offset += 8
        }
        while offset + 2 <= count {
            native &+= UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            offset += 2
        }
        self.accumulator &+= UInt64(UInt16(bigEndian: Self.fold(native)))
        if offset < count {
            self.accumulator &+= UInt64(bytes[offset]) << 8
        }
    }

    /// The ones' complement sum folded into 16 bits.
    @inlinable
    public var sum: UInt16 {
        Self.fold(self.accumulator)
    }

    /// The value of a checksum field: the complement of the sum.
    @inlinable
    public var checksum: UInt16 {
        ~self.sum
    }

    @inlinable
    static func fold(_ value: UInt64) -> UInt16 {
        var folded = value
        while folded >> 16 != 0 {
            folded = (folded & 0xFFFF) &+ (folded >> 16)
        }
        return UInt16(truncatingIfNeeded: folded)
    }

    // MARK: Incremental updates

    /// RFC 1624 §3, eqn. 3: `HC' = ~(~HC + ~m + m')`, the checksum after the 16-bit word `old` became `new`.
    ///
    /// The result equals a full recomputation: both lie in 0...0xFFFE for any data that is not all zeros.
    @inlinable
    public static func updated(_ checksum: UInt16, replacing old: UInt16, with new: UInt16) -> UInt16 {
        var sum = InternetChecksum()
        sum.add(~checksum)
        sum.add(~old)
        sum.add(new)
        return ~sum.sum
    }

    @inlinable
    public static func updated(_ checksum: UInt16, replacing old: UInt32, with new: UInt32) -> UInt16 {
        var sum = InternetChecksum()
        sum.add(~checksum)
        sum.add(~old)
        sum.add(new)
        return ~sum.sum
    }

    @inlinable
    public static func updated(_ checksum: UInt16, replacing old: IPAddress, with new: IPAddress) -> UInt16 {
        switch (old, new) {
        case (.v4(let old), .v4(let new)):
            return Self.updated(checksum, replacing: old.rawValue, with: new.rawValue)
        case (.v6(let old), .v6(let new)):
            var sum = InternetChecksum()
            sum.add(~checksum)
            sum.add(IPv6Address(high: ~old.high, low: ~old.low))
            sum.add(new)
            return ~sum.sum
        case (.v4, .v6), (.v6, .v4):
            preconditionFailure("an address is only ever replaced by one of the same family")
        }
    }
}
