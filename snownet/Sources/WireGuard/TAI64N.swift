/// A TAI64N timestamp (§5.4.2): 8 bytes of seconds since 1970 plus 2^62 (and wireguard-go's 10 s), then 4 bytes
/// of nanoseconds, both big-endian, so that byte order is time order.
package struct TAI64N: Comparable, Sendable {
    package var seconds: UInt64
    package var nanoseconds: UInt32

    /// The timestamp for `unixTime`, with the nanoseconds rounded down to defeat clock fingerprinting.
    package init(unixTime: Duration) {
        let (seconds, attoseconds) = unixTime.components
        self.seconds = WireGuardConstants.tai64Base &+ UInt64(clamping: seconds)
        let nanoseconds = UInt32(clamping: attoseconds / 1_000_000_000)
        self.nanoseconds = nanoseconds & ~WireGuardConstants.timestampWhitenerMask
    }

    /// The smallest whitened timestamp after this one: one whitening step (about 16.8 ms) later.
    package var successor: TAI64N {
        var next = self
        let step = WireGuardConstants.timestampWhitenerMask + 1
        if UInt64(next.nanoseconds) + UInt64(step) >= 1_000_000_000 {
            next.seconds &+= 1
            next.nanoseconds = 0
        } else {
            next.nanoseconds += step
        }
        return next
    }

    init(bytes: UnsafeRawBufferPointer) {
        self.seconds = UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))
        self.nanoseconds = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
    }

    package func write(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: self.seconds.bigEndian, as: UInt64.self)
        pointer.storeBytes(of: self.nanoseconds.bigEndian, toByteOffset: 8, as: UInt32.self)
    }

    package static func < (lhs: TAI64N, rhs: TAI64N) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }
}
