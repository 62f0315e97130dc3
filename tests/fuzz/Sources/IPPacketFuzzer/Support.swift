import FuzzSupport
import IPPacket
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: Reporting

func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

// MARK: Bytes

/// A copy of the buffer's readable bytes, made with `memcpy`: copying through `readableBytesView` runs an
/// instrumented loop per byte, and the harness copies packets after every rewrite.
func contents(_ buffer: ByteBuffer) -> [UInt8] {
    buffer.withUnsafeReadableBytes { bytes in
        [UInt8](unsafeUninitializedCapacity: bytes.count) { destination, initialized in
            if let source = bytes.baseAddress, !bytes.isEmpty {
                memcpy(destination.baseAddress!, source, bytes.count)
            }
            initialized = bytes.count
        }
    }
}

func contents(_ packet: IPPacket) -> [UInt8] {
    contents(packet.buffer)
}

/// Whether the buffer's readable bytes are `bytes`. Compared with `memcmp`, uninstrumented: the harness's own
/// byte loops would otherwise cost more than the code under test.
func equal(_ buffer: ByteBuffer, _ bytes: ArraySlice<UInt8>) -> Bool {
    buffer.readableBytes == bytes.count
        && buffer.withUnsafeReadableBytes { buffer in
            bytes.withUnsafeBytes { bytes in
                buffer.isEmpty || memcmp(buffer.baseAddress!, bytes.baseAddress!, bytes.count) == 0
            }
        }
}

func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.count == b.count
        && a.withUnsafeBytes { a in
            b.withUnsafeBytes { b in a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
        }
}

func uint16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
    UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
}

func uint32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(uint16(bytes, offset)) << 16 | UInt32(uint16(bytes, offset + 2))
}

func uint64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
    UInt64(uint32(bytes, offset)) << 32 | UInt64(uint32(bytes, offset + 4))
}

func setUInt16(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt16) {
    bytes[offset] = UInt8(truncatingIfNeeded: value >> 8)
    bytes[offset + 1] = UInt8(truncatingIfNeeded: value)
}

/// The address stored at `offset`: four bytes for IPv4, sixteen for IPv6.
func address(_ bytes: [UInt8], _ offset: Int, _ version: IPVersion) -> IPAddress {
    switch version {
    case .v4: .v4(IPv4Address(rawValue: uint32(bytes, offset)))
    case .v6: .v6(IPv6Address(high: uint64(bytes, offset), low: uint64(bytes, offset + 8)))
    }
}

func setAddress(_ bytes: inout [UInt8], _ offset: Int, _ address: IPAddress) {
    switch address {
    case .v4(let address):
        for index in 0..<4 {
            bytes[offset + index] = UInt8(truncatingIfNeeded: address.rawValue >> (24 - 8 * index))
        }
    case .v6(let address):
        for index in 0..<8 {
            bytes[offset + index] = UInt8(truncatingIfNeeded: address.high >> (56 - 8 * index))
            bytes[offset + 8 + index] = UInt8(truncatingIfNeeded: address.low >> (56 - 8 * index))
        }
    }
}

/// `bytes` in a buffer whose readable bytes do not start at index 0 and are followed by other written bytes, so
/// that any offset the library gets wrong reads or writes the wrong bytes.
func bufferWithHeadroom(_ bytes: some Collection<UInt8>, headroom: Int) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: headroom + bytes.count + 8)
    buffer.writeRepeatingByte(0xA5, count: headroom)
    buffer.writeBytes(bytes)
    buffer.writeRepeatingByte(0x5A, count: 8)
    buffer.moveReaderIndex(forwardBy: headroom)
    buffer.moveWriterIndex(to: headroom + bytes.count)
    return buffer
}

// MARK: Input

/// Reads numbers from the front of a part of the fuzz input; once it is used up, every read gives zeros.
struct FuzzReader {
    private let bytes: ArraySlice<UInt8>
    private var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    var isAtEnd: Bool {
        self.index >= self.bytes.endIndex
    }

    mutating func byte() -> UInt8 {
        guard self.index < self.bytes.endIndex else {
            return 0
        }
        defer { self.index += 1 }
        return self.bytes[self.index]
    }

    mutating func uint16() -> UInt16 {
        UInt16(self.byte()) << 8 | UInt16(self.byte())
    }

    mutating func uint32() -> UInt32 {
        UInt32(self.uint16()) << 16 | UInt32(self.uint16())
    }

    mutating func uint64() -> UInt64 {
        UInt64(self.uint32()) << 32 | UInt64(self.uint32())
    }

    mutating func address(_ version: IPVersion) -> IPAddress {
        switch version {
        case .v4: .v4(IPv4Address(rawValue: self.uint32()))
        case .v6: .v6(IPv6Address(high: self.uint64(), low: self.uint64()))
        }
    }
}
