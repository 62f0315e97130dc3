import FirezoneTesting
import IPPacket
import NIOCore
import STUN
import Testing

/// A sample message of RFC 5769 §2, with what it must decode to.
struct RFC5769Vector: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var type: STUNMessageType
    var transactionID: TransactionID
    var attributes: [STUNAttribute]
    var key: [UInt8]
    var hasFingerprint: Bool
    /// RFC 5769 §2: "the padding bytes [...] are set to 0x20 (space)" in §2.1–§2.3 to catch implementations that
    /// hash or check padding wrongly; §2.4 pads with zeros.
    var paddingByte: UInt8

    var testDescription: String { self.name }

    static let transactionID = TransactionID(bytes: [
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ])

    /// RFC 5769 §2.1, Sample Request: short-term credentials, so the key is the password itself.
    static let request = RFC5769Vector(
        name: "§2.1 sample request",
        bytes: FirezoneTesting.bytes(
            hex: """
                000100582112a442b7e7a701bc34d686fa87dfae
                802200105354554e207465737420636c69656e74
                002400046e0001ff
                80290008932ff9b151263b36
                000600096576746a3a68367659202020
                000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2
                80280004e57a3bcf
                """
        ),
        type: STUNMessageType(method: .binding, class: .request),
        transactionID: transactionID,
        attributes: [
            .software("STUN test client"),
            .priority(0x6e00_01ff),
            .iceControlled(0x932f_f9b1_5126_3b36),
            .username("evtj:h6vY"),
        ],
        key: Array("VOkJxbRl1RmTxUk/WvJxBt".utf8),
        hasFingerprint: true,
        paddingByte: 0x20
    )

    /// RFC 5769 §2.2, Sample IPv4 Response.
    static let ipv4Response = RFC5769Vector(
        name: "§2.2 sample IPv4 response",
        bytes: FirezoneTesting.bytes(
            hex: """
                0101003c2112a442b7e7a701bc34d686fa87dfae
                8022000b7465737420766563746f7220
                002000080001a147e112a643
                000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7
                80280004c07d4c96
                """
        ),
        type: STUNMessageType(method: .binding, class: .successResponse),
        transactionID: transactionID,
        attributes: [
            .software("test vector"),
            .xorMappedAddress(IPSocketAddress("192.0.2.1:32853")!),
        ],
        key: Array("VOkJxbRl1RmTxUk/WvJxBt".utf8),
        hasFingerprint: true,
        paddingByte: 0x20
    )

    /// RFC 5769 §2.3, Sample IPv6 Response.
    static let ipv6Response = RFC5769Vector(
        name: "§2.3 sample IPv6 response",
        bytes: FirezoneTesting.bytes(
            hex: """
                010100482112a442b7e7a701bc34d686fa87dfae
                8022000b7465737420766563746f7220
                002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9
                00080014a382954e4be67bf11784c97c8292c275bfe3ed41
                80280004c8fb0b4c
                """
        ),
        type: STUNMessageType(method: .binding, class: .successResponse),
        transactionID: transactionID,
        attributes: [
            .software("test vector"),
            .xorMappedAddress(IPSocketAddress("[2001:db8:1234:5678:11:2233:4455:6677]:32853")!),
        ],
        key: Array("VOkJxbRl1RmTxUk/WvJxBt".utf8),
        hasFingerprint: true,
        paddingByte: 0x20
    )

    /// The SASLprep'd username of §2.4: U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9.
    static let longTermUsername = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}"

    /// RFC 5769 §2.4, Sample Request with Long-Term Authentication. The password "The<U+00AD>M<U+00AA>tr<U+2168>"
    /// is "TheMatrIX" after SASLprep; the key is MD5 of "username:realm:password".
    static let longTermRequest = RFC5769Vector(
        name: "§2.4 sample request with long-term authentication",
        bytes: FirezoneTesting.bytes(
            hex: """
                000100602112a44278ad3433c6ad72c029da412e
                00060012e3839ee38388e383aae38383e382afe382b90000
                0015001c662f2f3439396b39353464364f4c33346f4c394653547679363473410014000b6578616d706c652e6f726700
                00080014f67024656dd64a3e02b8e0712e85c9a28ca89666
                """
        ),
        type: STUNMessageType(method: .binding, class: .request),
        transactionID: TransactionID(bytes: [0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e]),
        attributes: [
            .username(longTermUsername),
            .nonce("f//499k954d6OL34oL9FSTvy64sA"),
            .realm("example.org"),
        ],
        key: LongTermCredentials.key(username: longTermUsername, realm: "example.org", password: "TheMatrIX"),
        hasFingerprint: false,
        paddingByte: 0
    )

    static let all = [request, ipv4Response, ipv6Response, longTermRequest]
}

/// RFC 5769's test vectors, decoded and re-encoded.
struct RFC5769Tests {
    @Test(arguments: RFC5769Vector.all)
    func decodesTheSampleMessage(vector: RFC5769Vector) throws {
        let message = try STUNMessage(decoding: ByteBuffer(bytes: vector.bytes))
        #expect(message.type == vector.type)
        #expect(message.transactionID == vector.transactionID)
        #expect(message.attributes == vector.attributes)
        #expect(message.unknownComprehensionRequiredAttributes.isEmpty)
        #expect(message.hasMessageIntegrity)
        #expect(message.hasFingerprint == vector.hasFingerprint)
    }

    @Test(arguments: RFC5769Vector.all)
    func verifiesTheSampleMessageIntegrity(vector: RFC5769Vector) throws {
        let message = try STUNMessage(decoding: ByteBuffer(bytes: vector.bytes))
        #expect(message.verifyMessageIntegrity(key: vector.key))
        #expect(!message.verifyMessageIntegrity(key: Array("VOkJxbRl1RmTxUk/WvJxBT".utf8)))
        #expect(!message.verifyMessageIntegrity(key: []))
    }

    /// With the RFC's padding bytes, the encoder reproduces every vector byte for byte, MESSAGE-INTEGRITY and
    /// FINGERPRINT included.
    @Test(arguments: RFC5769Vector.all)
    func reencodesTheSampleMessageByteForByte(vector: RFC5769Vector) {
        var buffer = ByteBuffer()
        var encoder = STUNMessageEncoder(type: vector.type, transactionID: vector.transactionID, into: &buffer)
        encoder.paddingByte = vector.paddingByte
        for attribute in vector.attributes {
            encoder.append(attribute, into: &buffer)
        }
        encoder.appendMessageIntegrity(key: vector.key, into: &buffer)
        if vector.hasFingerprint {
            encoder.appendFingerprint(into: &buffer)
        }
        #expect(hex(buffer) == hex(vector.bytes))
    }

    /// With the zero padding RFC 8489 §14 requires, the bytes differ from §2.1–§2.3 in the padding and so in the
    /// MAC and CRC, but the message is the same.
    @Test(arguments: RFC5769Vector.all)
    func reencodesTheSampleMessageWithZeroPadding(vector: RFC5769Vector) throws {
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: vector.type,
            transactionID: vector.transactionID,
            attributes: vector.attributes,
            messageIntegrityKey: vector.key,
            fingerprint: vector.hasFingerprint,
            into: &buffer
        )
        #expect(buffer.readableBytes == vector.bytes.count)
        let message = try STUNMessage(decoding: buffer)
        #expect(message.type == vector.type)
        #expect(message.transactionID == vector.transactionID)
        #expect(message.attributes == vector.attributes)
        #expect(message.hasFingerprint == vector.hasFingerprint)
        #expect(message.verifyMessageIntegrity(key: vector.key))
        if vector.paddingByte == 0 {
            #expect(hex(buffer) == hex(vector.bytes))
        }
    }

    /// Any single flipped bit is caught: by the framing, by FINGERPRINT's CRC-32 (which detects every single-bit
    /// error) while a FINGERPRINT is still there, and by MESSAGE-INTEGRITY. Two corruptions cannot be caught,
    /// by design: in the padding of §2.4 (RFC 8489 §14: padding "MUST be ignored by the receiver"; §2.4 has no
    /// FINGERPRINT) and in FINGERPRINT's own type, which turns it into an unknown attribute that follows
    /// MESSAGE-INTEGRITY and so is ignored.
    @Test(arguments: RFC5769Vector.all)
    func detectsEveryFlippedBit(vector: RFC5769Vector) {
        let fingerprintStart = vector.hasFingerprint ? vector.bytes.count - 8 : vector.bytes.count
        for index in 0..<vector.bytes.count {
            for bit in 0..<8 {
                var corrupted = vector.bytes
                corrupted[index] ^= 1 << bit
                let context = Comment(rawValue: "\(vector.name): byte \(index) bit \(bit)")
                guard let message = try? STUNMessage(decoding: ByteBuffer(bytes: corrupted)) else {
                    continue
                }
                #expect(!message.hasFingerprint, "a FINGERPRINT survived: \(context)")
                if index < fingerprintStart, !Self.isPadding(index, in: vector) {
                    #expect(!message.verifyMessageIntegrity(key: vector.key), context)
                }
            }
        }
    }

    /// The bytes of §2.4 that no check covers: the padding after USERNAME and REALM (RFC 8489 §14: "MUST be
    /// ignored by the receiver").
    private static func isPadding(_ index: Int, in vector: RFC5769Vector) -> Bool {
        vector.name.hasPrefix("§2.4") && [42, 43, 91].contains(index)
    }
}
