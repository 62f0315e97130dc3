import FirezoneCrypto
import NIOCore

// Hex text for test vectors and failure messages, on `FirezoneCrypto`'s `Hex`. Vectors copied from RFCs and
// captures are laid out in groups and lines, so whitespace between digits is ignored.

/// The bytes of `hex`, an even number of hex digits in either case with any whitespace between them.
///
/// A literal that is not hex is a mistake in the test, not an input under test: it stops the test run with the
/// literal in the message.
public func bytes(hex: String) -> [UInt8] {
    let digits = hex.unicodeScalars.filter { !$0.properties.isWhitespace }
    guard let bytes = Hex.decode(String(String.UnicodeScalarView(digits))) else {
        preconditionFailure("not an even number of hex digits: \(hex)")
    }
    return bytes
}

/// A buffer holding the bytes of `hex` (see ``bytes(hex:)``).
public func buffer(hex: String) -> ByteBuffer {
    ByteBuffer(bytes: bytes(hex: hex))
}

/// Lower-case hex digits of `bytes`, without separators.
public func hex(_ bytes: some Sequence<UInt8>) -> String {
    Hex.encode(bytes)
}

/// Lower-case hex digits of `buffer`'s readable bytes, without separators.
public func hex(_ buffer: ByteBuffer) -> String {
    Hex.encode(buffer.readableBytesView)
}
