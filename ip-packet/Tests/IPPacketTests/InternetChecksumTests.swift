import IPPacket
import Testing

struct InternetChecksumTests {
    /// RFC 1071 §3: the example sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2, so the checksum is 220d.
    @Test func matchesTheRFC1071Example() {
        let bytes: [UInt8] = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]
        var sum = InternetChecksum()
        bytes.withUnsafeBytes { sum.add(bytes: $0) }
        #expect(sum.sum == 0xDDF2)
        #expect(sum.checksum == 0x220D)
    }

    @Test(arguments: 0...23)
    func bulkSumEqualsWordByWordSumForEveryLength(length: Int) {
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        var bulk = InternetChecksum()
        bytes.withUnsafeBytes { bulk.add(bytes: $0) }
        var words = InternetChecksum()
        for index in stride(from: 0, to: length, by: 2) {
            let low = index + 1 < length ? bytes[index + 1] : 0
            words.add(UInt16(bytes[index]) << 8 | UInt16(low))
        }
        #expect(bulk.sum == words.sum)
    }

    /// RFC 1624 §4: HC = 0xDD2F, m = 0x5555, m' = 0x3285 gives HC' = 0x0000, where RFC 1141's formula gave 0xFFFF.
    @Test func incrementalUpdateMatchesTheRFC1624Example() {
        #expect(InternetChecksum.updated(0xDD2F, replacing: UInt16(0x5555), with: UInt16(0x3285)) == 0x0000)
    }

    /// The well-known IPv4 header whose checksum is b861.
    @Test func computesAnIPv4HeaderChecksum() {
        let header: [UInt8] = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xC0, 0xA8, 0x00, 0x01, 0xC0, 0xA8,
            0x00, 0xC7,
        ]
        var sum = InternetChecksum()
        header.withUnsafeBytes { sum.add(bytes: $0) }
        #expect(sum.checksum == 0xB861)
    }
}
