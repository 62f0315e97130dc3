import FirezoneTesting
import NIOCore
import STUN
import Testing

struct ChannelDataTests {
    @Test func decodesChannelNumberAndPayload() throws {
        let datagram = buffer(hex: "4001 0004 deadbeef")
        let channelData = try ChannelData(decoding: datagram)
        #expect(channelData.channelNumber == 0x4001)
        #expect(hex(channelData.payload) == "deadbeef")
    }

    /// The payload is a slice of the datagram, not a copy: the per-packet path must not allocate.
    @Test func thePayloadSharesTheDatagramsStorage() throws {
        let datagram = buffer(hex: "4001 0004 deadbeef")
        let channelData = try ChannelData(decoding: datagram)
        let datagramStart = datagram.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let payloadStart = channelData.payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(payloadStart == datagramStart + 4)
    }

    /// RFC 8656 §12.4: "Note that 0 is a valid length."
    @Test func acceptsAnEmptyPayload() throws {
        let channelData = try ChannelData(decoding: buffer(hex: "7fff 0000"))
        #expect(channelData.channelNumber == 0x7FFF)
        #expect(channelData.payload.readableBytes == 0)
    }

    /// RFC 8656 §12.5: "Over UDP, the padding is not required but MAY be included"; Firezone's relay
    /// (rust/relay/server/src/server/channel_data.rs): the payload is exactly `length` bytes and trailing bytes are
    /// tolerated.
    @Test(arguments: [1, 2, 3, 7])
    func ignoresBytesAfterThePayload(trailing: Int) throws {
        var datagram = buffer(hex: "4000 0003 010203")
        datagram.writeRepeatingByte(0, count: trailing)
        let channelData = try ChannelData(decoding: datagram)
        #expect(hex(channelData.payload) == "010203")
    }

    @Test(arguments: [UInt16(0x4000), 0x4FFF, 0x5000, 0x7FFF])
    func acceptsChannelNumbersFrom0x4000To0x7FFF(number: UInt16) throws {
        var datagram = ByteBuffer()
        datagram.writeInteger(number)
        datagram.writeInteger(UInt16(1))
        datagram.writeInteger(UInt8(9))
        #expect(try ChannelData(decoding: datagram).channelNumber == number)
    }

    @Test(arguments: [UInt16(0x0000), 0x0001, 0x3FFF, 0x8000, 0xBFFF, 0xFFFF])
    func rejectsChannelNumbersOutsideTheRange(number: UInt16) {
        var datagram = ByteBuffer()
        datagram.writeInteger(number)
        datagram.writeInteger(UInt16(0))
        #expect(throws: ChannelDataDecodeError.invalidChannelNumber(number)) {
            try ChannelData(decoding: datagram)
        }
    }

    @Test(arguments: 0..<4)
    func rejectsDatagramsShorterThanTheHeader(length: Int) {
        let datagram = ByteBuffer(bytes: [0x40, 0x00, 0x00, 0x00].prefix(length))
        #expect(throws: ChannelDataDecodeError.tooShort(length: length)) {
            try ChannelData(decoding: datagram)
        }
    }

    /// RFC 8656 §12.6: a datagram "too short to contain the claimed length" is discarded.
    @Test func rejectsALengthBeyondTheDatagram() {
        #expect(throws: ChannelDataDecodeError.truncated(declared: 5, available: 4)) {
            try ChannelData(decoding: buffer(hex: "4000 0005 01020304"))
        }
        #expect(throws: ChannelDataDecodeError.truncated(declared: 0xFFFF, available: 0)) {
            try ChannelData(decoding: buffer(hex: "4000 ffff"))
        }
    }

    @Test func decodesAtANonZeroReaderIndex() throws {
        var datagram = buffer(hex: "ffff 4002 0002 abcd")
        datagram.moveReaderIndex(forwardBy: 2)
        let channelData = try ChannelData(decoding: datagram)
        #expect(channelData.channelNumber == 0x4002)
        #expect(hex(channelData.payload) == "abcd")
    }

    /// The relay reads a peer's datagram with four bytes of headroom and writes the header in front of it.
    @Test func prependsTheHeaderIntoHeadroom() throws {
        var datagram = buffer(hex: "00000000 cafebabe01")
        datagram.moveReaderIndex(forwardBy: ChannelData.headerLength)
        ChannelData.prependHeader(channelNumber: 0x4ABC, to: &datagram)
        #expect(hex(datagram) == "4abc0005cafebabe01")
        let channelData = try ChannelData(decoding: datagram)
        #expect(channelData.channelNumber == 0x4ABC)
        #expect(hex(channelData.payload) == "cafebabe01")
    }

    @Test func writesAWholeMessageWithoutPadding() throws {
        let channelData = ChannelData(channelNumber: 0x4123, payload: buffer(hex: "010203"))
        var output = ByteBuffer(bytes: [0xEE])
        channelData.write(into: &output)
        #expect(hex(output) == "ee4123000301 0203".replacingSpaces())
        output.moveReaderIndex(forwardBy: 1)
        #expect(try ChannelData(decoding: output) == channelData)
    }

    @Test func exposesTheRanges() {
        #expect(ChannelData.headerLength == 4)
        #expect(ChannelData.channelNumbers == 0x4000...0x7FFF)
        #expect(STUNConstants.firezoneClientChannelNumbers == 0x4000...0x4FFF)
    }

    /// Random datagrams decode, or throw exactly the error their header calls for (RFC 8656 §12.4, §12.6); what
    /// decodes is consistent with its bytes.
    @Test(arguments: TestSeeds.seeds(count: 200))
    func randomDatagramsDecodeOrThrowTheirError(seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let count = Int.random(in: 0...80, using: &rng)
        var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
        if bytes.count >= 2, Bool.random(using: &rng) {
            bytes[0] = UInt8.random(in: 0x40...0x7F, using: &rng)
        }
        if bytes.count >= 4, Bool.random(using: &rng) {
            // Around the boundary: a declared length at, just under or just over what follows the header.
            let declared = max(0, count - 4 + Int.random(in: -2...2, using: &rng))
            bytes[2] = UInt8(declared >> 8)
            bytes[3] = UInt8(declared & 0xFF)
        }
        let context = Comment(rawValue: "seed \(seed): \(bytes)")
        let expectedError: ChannelDataDecodeError? =
            if bytes.count < 4 {
                .tooShort(length: bytes.count)
            } else if !(0x40...0x7F).contains(bytes[0]) {
                .invalidChannelNumber(UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
            } else if Int(bytes[2]) << 8 | Int(bytes[3]) > bytes.count - 4 {
                .truncated(declared: Int(bytes[2]) << 8 | Int(bytes[3]), available: bytes.count - 4)
            } else {
                nil
            }
        do {
            let channelData = try ChannelData(decoding: ByteBuffer(bytes: bytes))
            #expect(expectedError == nil, context)
            #expect(channelData.channelNumber == UInt16(bytes[0]) << 8 | UInt16(bytes[1]), context)
            #expect(channelData.payload.readableBytes == Int(bytes[2]) << 8 | Int(bytes[3]), context)
            #expect(
                Array(channelData.payload.readableBytesView)
                    == Array(bytes[4..<(4 + channelData.payload.readableBytes)]),
                context
            )
        } catch {
            #expect(error == expectedError, context)
        }
    }
}

extension String {
    fileprivate func replacingSpaces() -> String {
        String(self.filter { $0 != " " })
    }
}
