import Connlib
import Testing

struct NetlinkAttributesTests {
    /// rtattr headers in host order (little-endian here): length 8 type 3 with a u32, length 5 type 4 with one
    /// byte padded to 8, then length 8 type 5 with a u32.
    static let wellFormed: [UInt8] = [8, 0, 3, 0, 0x10, 0, 0, 0, 5, 0, 4, 0, 0x2a, 0, 0, 0, 8, 0, 5, 0, 7, 0, 0, 0]

    @Test func attributesAreReadAtTheirPaddedOffsets() {
        let read = Self.wellFormed.withUnsafeBytes { bytes in
            NetlinkAttributes(bytes: bytes).map { ($0.type, $0.payload.count) }
        }
        #expect(read.map(\.0) == [3, 4, 5])
        #expect(read.map(\.1) == [4, 1, 4])
    }

    @Test(arguments: [
        [8, 0, 3, 0, 0x10, 0] as [UInt8],  // length beyond the bytes
        [2, 0, 3, 0, 0, 0, 0, 0],  // length shorter than the header
        [0, 0, 3, 0, 0, 0, 0, 0],  // zero length, which would never advance
        [8, 0],  // a truncated header
    ])
    func aMalformedAttributeEndsTheWalkWithoutReadingPastTheBytes(bytes: [UInt8]) {
        let count = bytes.withUnsafeBytes { NetlinkAttributes(bytes: $0).reduce(0) { count, _ in count + 1 } }
        #expect(count == 0)
    }
}
