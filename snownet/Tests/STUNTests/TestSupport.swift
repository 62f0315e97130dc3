import NIOCore

/// Hex text to a buffer, for test vectors; spaces and newlines are ignored.
func buffer(hex: String) -> ByteBuffer {
    ByteBuffer(bytes: bytes(hex: hex))
}

func bytes(hex: String) -> [UInt8] {
    let digits = Array(hex.utf8.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") })
    precondition(digits.count % 2 == 0, "an even number of hex digits")
    return stride(from: 0, to: digits.count, by: 2).map {
        UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)!
    }
}

func hex(_ buffer: ByteBuffer) -> String {
    hex(Array(buffer.readableBytesView))
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

/// SplitMix64 (Steele, Lea and Flood 2014): a deterministic generator for randomised tests. The test target
/// depends on STUN alone, so it carries its own copy of FirezoneTesting's.
struct SplitMix64: RandomNumberGenerator {
    private(set) var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Fixed seeds, so every run checks the same cases; a failure names its seed.
func testSeeds(count: Int) -> [UInt64] {
    (0..<UInt64(count)).map { $0 &* 0x9E37_79B9 &+ 1 }
}

/// A STUN message built by hand from raw attributes, for inputs the encoder will not write: unknown or malformed
/// attributes, wrong lengths. The header's length is correct unless `length` overrides it; values are padded
/// with zeros.
func rawMessage(
    type: UInt16 = 0x0001,
    transactionID: [UInt8] = Array(0x01...0x0C),
    attributes: [(type: UInt16, value: [UInt8])],
    length: Int? = nil
) -> ByteBuffer {
    var body = ByteBuffer()
    for attribute in attributes {
        body.writeInteger(attribute.type)
        body.writeInteger(UInt16(attribute.value.count))
        body.writeBytes(attribute.value)
        body.writeRepeatingByte(0, count: (4 - attribute.value.count % 4) % 4)
    }
    var message = ByteBuffer()
    message.writeInteger(type)
    message.writeInteger(UInt16(length ?? body.readableBytes))
    message.writeInteger(UInt32(0x2112_A442))
    message.writeBytes(transactionID)
    message.writeBuffer(&body)
    return message
}

/// The big-endian bytes of an integer.
func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0..<MemoryLayout<T>.size).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
}
