import IPPacket
import NIOCore

/// Hex text to a buffer, for test vectors; whitespace is ignored.
func buffer(hex: String) -> ByteBuffer {
    let digits = Array(hex.utf8.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") })
    precondition(digits.count % 2 == 0, "an even number of hex digits")
    let bytes = stride(from: 0, to: digits.count, by: 2).map {
        UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)!
    }
    return ByteBuffer(bytes: bytes)
}

func hex(_ buffer: ByteBuffer) -> String {
    buffer.readableBytesView.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

func ip(_ text: String) -> IPAddress {
    IPAddress(text)!
}
