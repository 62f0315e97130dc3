// Network-order reads and writes at byte offsets the caller has validated.
//
// A packet is read and rewritten through one `withUnsafe…Bytes` call rather than one `ByteBuffer.getInteger` or
// `setInteger` per field: each of those is a dynamic exclusivity check on the buffer's storage (docs/benchmarks.md,
// "Where the time goes"). Bounds are the caller's to check; these do not.

extension UnsafeRawBufferPointer {
    @inline(__always)
    func bigEndian<Integer: FixedWidthInteger & BitwiseCopyable>(
        at offset: Int,
        as: Integer.Type = Integer.self
    ) -> Integer {
        Integer(bigEndian: self.loadUnaligned(fromByteOffset: offset, as: Integer.self))
    }

    @inline(__always)
    func ipv4Address(at offset: Int) -> IPv4Address {
        IPv4Address(rawValue: self.bigEndian(at: offset))
    }

    @inline(__always)
    func ipv6Address(at offset: Int) -> IPv6Address {
        IPv6Address(high: self.bigEndian(at: offset), low: self.bigEndian(at: offset + 8))
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func bigEndian<Integer: FixedWidthInteger & BitwiseCopyable>(
        at offset: Int,
        as: Integer.Type = Integer.self
    ) -> Integer {
        Integer(bigEndian: self.loadUnaligned(fromByteOffset: offset, as: Integer.self))
    }

    @inline(__always)
    func setBigEndian<Integer: FixedWidthInteger & BitwiseCopyable>(_ value: Integer, at offset: Int) {
        self.storeBytes(of: value.bigEndian, toByteOffset: offset, as: Integer.self)
    }
}
