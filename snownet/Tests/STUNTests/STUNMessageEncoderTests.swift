import FirezoneCrypto
import FirezoneTesting
import IPPacket
import NIOCore
import STUN
import Testing

struct STUNMessageEncoderTests {
    static let transactionID = TransactionID(bytes: Array(0x01...0x0C))
    static let key = LongTermCredentials.key(username: "1685984278:salt", realm: "firezone", password: "secret")

    /// The header's length is right after every step, so the buffer always holds a complete message.
    @Test func keepsTheHeaderLengthCurrent() throws {
        var buffer = ByteBuffer()
        var encoder = STUNMessageEncoder(
            type: STUNMessageType(method: .allocate, class: .request),
            transactionID: Self.transactionID,
            into: &buffer
        )
        #expect(try STUNMessage(decoding: buffer).attributes.isEmpty)
        encoder.append(.requestedTransport(17), into: &buffer)
        #expect(try STUNMessage(decoding: buffer).attributes == [.requestedTransport(17)])
        encoder.append(.username("a"), into: &buffer)
        #expect(buffer.readableBytes == 20 + 8 + 8)
        #expect(try STUNMessage(decoding: buffer).username == "a")
        encoder.appendMessageIntegrity(key: Self.key, into: &buffer)
        #expect(try STUNMessage(decoding: buffer).verifyMessageIntegrity(key: Self.key))
        encoder.appendFingerprint(into: &buffer)
        let message = try STUNMessage(decoding: buffer)
        #expect(message.hasFingerprint)
        #expect(message.verifyMessageIntegrity(key: Self.key))
        #expect(buffer.getInteger(at: 2, as: UInt16.self) == UInt16(buffer.readableBytes - 20))
    }

    /// A message written after other bytes in the caller's buffer (a batch, or headroom) covers only itself.
    @Test func writesAfterExistingBytes() throws {
        var buffer = ByteBuffer(bytes: [1, 2, 3])
        buffer.moveReaderIndex(forwardBy: 1)
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .refresh, class: .request),
            transactionID: Self.transactionID,
            attributes: [.lifetime(0), .software("snownet")],
            messageIntegrityKey: Self.key,
            fingerprint: true,
            into: &buffer
        )
        let message = try STUNMessage(decoding: buffer.getSlice(at: 3, length: buffer.writerIndex - 3)!)
        #expect(message.lifetime == 0)
        #expect(message.software == "snownet")
        #expect(message.hasFingerprint)
        #expect(message.verifyMessageIntegrity(key: Self.key))
    }

    @Test func theOneCallEncoderEqualsTheStepwiseOne() {
        let type = STUNMessageType(method: .channelBind, class: .request)
        let attributes: [STUNAttribute] = [
            .xorPeerAddress(IPSocketAddress("[2001:db8::1]:443")!), .channelNumber(0x4000), .software("snownet"),
        ]
        var oneCall = ByteBuffer()
        STUNMessageEncoder.encode(
            type: type,
            transactionID: Self.transactionID,
            attributes: attributes,
            messageIntegrityKey: Self.key,
            into: &oneCall
        )
        var stepwise = ByteBuffer()
        var encoder = STUNMessageEncoder(type: type, transactionID: Self.transactionID, into: &stepwise)
        for attribute in attributes {
            encoder.append(attribute, into: &stepwise)
        }
        encoder.appendMessageIntegrity(key: Self.key, into: &stepwise)
        #expect(oneCall == stepwise)
    }

    /// MESSAGE-INTEGRITY is verified against the key it was made with, and nothing else.
    @Test func messageIntegrityNeedsTheSameKey() throws {
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .allocate, class: .successResponse),
            transactionID: Self.transactionID,
            attributes: [.xorRelayedAddress(IPSocketAddress("203.0.113.1:50000")!), .lifetime(600)],
            messageIntegrityKey: Self.key,
            into: &buffer
        )
        let message = try STUNMessage(decoding: buffer)
        #expect(message.hasMessageIntegrity)
        #expect(!message.hasFingerprint)
        #expect(message.verifyMessageIntegrity(key: Self.key))
        let otherKey = LongTermCredentials.key(username: "1685984278:salt", realm: "firezone", password: "secreT")
        #expect(!message.verifyMessageIntegrity(key: otherKey))
        #expect(!message.verifyMessageIntegrity(key: []))
    }

    /// An empty key is a valid HMAC key (a short-term password may be empty).
    @Test func acceptsAnEmptyKey() throws {
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .binding, class: .request),
            transactionID: Self.transactionID,
            attributes: [],
            messageIntegrityKey: [],
            into: &buffer
        )
        let message = try STUNMessage(decoding: buffer)
        #expect(message.verifyMessageIntegrity(key: []))
        // Not [0]: HMAC pads keys with zeros to the block size, so "" and "\0" are the same key (RFC 2104 §2).
        #expect(!message.verifyMessageIntegrity(key: [1]))
    }

    /// RFC 5389 §15.4: "agents MUST ignore all other attributes that follow MESSAGE-INTEGRITY", and RFC 8489
    /// §14.5's length adjustment makes MESSAGE-INTEGRITY verify whatever follows it.
    @Test func ignoresAttributesAfterMessageIntegrity() throws {
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .binding, class: .request),
            transactionID: Self.transactionID,
            attributes: [.username("user")],
            messageIntegrityKey: Self.key,
            into: &buffer
        )
        // Append SOFTWARE, an unknown comprehension-required attribute and a malformed LIFETIME by hand, then a
        // FINGERPRINT over all of it.
        for (type, value) in [(UInt16(0x8022), Array("late".utf8)), (0x0018, [0x80, 0, 0, 0]), (0x000D, [1, 2])] {
            buffer.writeInteger(UInt16(type))
            buffer.writeInteger(UInt16(value.count))
            buffer.writeBytes(value)
            buffer.writeRepeatingByte(0, count: (4 - value.count % 4) % 4)
        }
        buffer.setInteger(UInt16(buffer.readableBytes - 20 + 8), at: 2)
        let crc = buffer.withUnsafeReadableBytes { CRC32.checksum($0) } ^ STUNConstants.fingerprintXOR
        buffer.writeInteger(STUNConstants.AttributeType.fingerprint)
        buffer.writeInteger(UInt16(4))
        buffer.writeInteger(crc)

        let message = try STUNMessage(decoding: buffer)
        #expect(message.attributes == [.username("user")])
        #expect(message.unknownComprehensionRequiredAttributes.isEmpty)
        #expect(message.hasFingerprint)
        #expect(message.verifyMessageIntegrity(key: Self.key))
    }

    /// An error response as the relay sends it: ERROR-CODE first, REALM and NONCE, SOFTWARE (RFC 8489 §14.8).
    @Test func encodesAnErrorResponseByteForByte() throws {
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .allocate, class: .errorResponse),
            transactionID: Self.transactionID,
            attributes: [.errorCode(.unauthorized), .realm("firezone"), .nonce("n"), .unknownAttributes([0x001A])],
            into: &buffer
        )
        let expected = """
            011300302112a442 0102030405060708090a0b0c
            00090010 00000401 556e617574686f72697a6564
            00140008 6669726 57a6f6e65
            00150001 6e000000
            000a0002 001a0000
            """
        #expect(hex(buffer) == hex(bytes(hex: expected)))
        let message = try STUNMessage(decoding: buffer)
        #expect(message.type.class == .errorResponse)
        #expect(message.errorCode == .unauthorized)
        #expect(message.unknownAttributes == [0x001A])
    }

    @Test(arguments: [(0, 0), (1, 3), (2, 2), (3, 1), (4, 0), (5, 3), (763, 1)])
    func padsValuesToFourBytes(length: Int, padding: Int) {
        #expect(STUNMessageEncoder.padding(for: length) == padding)
    }
}
