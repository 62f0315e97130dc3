import FirezoneTesting
import IPPacket
import NIOCore
import STUN
import Testing

/// One attribute, and the bytes of its value (before padding) under ``STUNAttributeTests/transactionID``.
struct AttributeSample: Sendable, CustomTestStringConvertible {
    var attribute: STUNAttribute
    var value: String

    var testDescription: String { "\(self.attribute)" }
}

struct STUNAttributeTests {
    /// RFC 5769 §2.2/§2.3's transaction ID, so their XOR-MAPPED-ADDRESS values are known.
    static let transactionID = TransactionID(bytes: bytes(hex: "b7e7a701bc34d686fa87dfae"))

    static let ipv4 = IPSocketAddress("192.0.2.1:32853")!
    static let ipv6 = IPSocketAddress("[2001:db8:1234:5678:11:2233:4455:6677]:32853")!

    /// Every attribute, with its value bytes worked out by hand from the RFC figures (the XOR addresses from
    /// RFC 5769 §2.2 and §2.3).
    static let samples: [AttributeSample] = [
        AttributeSample(attribute: .mappedAddress(ipv4), value: "0001 8055 c0000201"),
        AttributeSample(attribute: .mappedAddress(ipv6), value: "0002 8055 20010db812345678 0011223344556677"),
        AttributeSample(attribute: .xorMappedAddress(ipv4), value: "0001 a147 e112a643"),
        AttributeSample(attribute: .xorMappedAddress(ipv6), value: "0002 a147 0113a9faa5d3f179 bc25f4b5bed2b9d9"),
        AttributeSample(attribute: .xorRelayedAddress(ipv4), value: "0001 a147 e112a643"),
        AttributeSample(attribute: .xorRelayedAddress(ipv6), value: "0002 a147 0113a9faa5d3f179 bc25f4b5bed2b9d9"),
        AttributeSample(attribute: .xorPeerAddress(ipv4), value: "0001 a147 e112a643"),
        AttributeSample(attribute: .xorPeerAddress(ipv6), value: "0002 a147 0113a9faa5d3f179 bc25f4b5bed2b9d9"),
        AttributeSample(
            attribute: .username("1685984278:uvdgKvS9GXYZ_vmv"),
            value: hex(Array("1685984278:uvdgKvS9GXYZ_vmv".utf8))
        ),
        AttributeSample(attribute: .username(""), value: ""),
        AttributeSample(attribute: .realm("firezone"), value: "6669 72657a6f 6e65"),
        AttributeSample(
            attribute: .nonce("f//499k954d6OL34oL9FSTvy64sA"),
            value: hex(Array("f//499k954d6OL34oL9FSTvy64sA".utf8))
        ),
        AttributeSample(attribute: .software("snownet"), value: "736e6f776e6574"),
        AttributeSample(attribute: .software("\u{30DE}\u{30C8}"), value: "e3839e e38388"),
        AttributeSample(attribute: .errorCode(.unauthorized), value: "00000401" + hex(Array("Unauthorized".utf8))),
        AttributeSample(attribute: .errorCode(.staleNonce), value: "00000426" + hex(Array("Stale Nonce".utf8))),
        AttributeSample(
            attribute: .errorCode(.insufficientCapacity),
            value: "00000508" + hex(Array("Insufficient Capacity".utf8))
        ),
        AttributeSample(attribute: .errorCode(STUNErrorCode(code: 699, reason: "")), value: "00000663"),
        AttributeSample(
            attribute: .errorCode(STUNErrorCode(code: 300, reason: "Try Alternate")),
            value: "00000300" + hex(Array("Try Alternate".utf8))
        ),
        AttributeSample(attribute: .lifetime(600), value: "00000258"),
        AttributeSample(attribute: .lifetime(0), value: "00000000"),
        AttributeSample(attribute: .lifetime(.max), value: "ffffffff"),
        AttributeSample(attribute: .channelNumber(0x4000), value: "4000 0000"),
        AttributeSample(attribute: .channelNumber(0x7FFF), value: "7fff 0000"),
        AttributeSample(attribute: .requestedTransport(17), value: "11 000000"),
        AttributeSample(attribute: .evenPort(reserve: true), value: "80"),
        AttributeSample(attribute: .evenPort(reserve: false), value: "00"),
        AttributeSample(attribute: .reservationToken(0x0102_0304_0506_0708), value: "0102030405060708"),
        AttributeSample(attribute: .requestedAddressFamily(.v4), value: "01 000000"),
        AttributeSample(attribute: .requestedAddressFamily(.v6), value: "02 000000"),
        AttributeSample(attribute: .additionalAddressFamily(.v6), value: "02 000000"),
        AttributeSample(attribute: .unknownAttributes([0x001A, 0x0018, 0x0022]), value: "001a 0018 0022"),
        AttributeSample(attribute: .unknownAttributes([0x001A]), value: "001a"),
        AttributeSample(attribute: .unknownAttributes([]), value: ""),
        AttributeSample(attribute: .priority(0x6e00_01ff), value: "6e0001ff"),
        AttributeSample(attribute: .useCandidate, value: ""),
        AttributeSample(attribute: .iceControlled(0x932f_f9b1_5126_3b36), value: "932ff9b151263b36"),
        AttributeSample(attribute: .iceControlling(1), value: "0000000000000001"),
    ]

    /// Encoding writes type, length and the value padded with zeros; decoding gives the attribute back.
    @Test(arguments: samples)
    func encodesAndDecodesTheAttribute(sample: AttributeSample) throws {
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .binding, class: .successResponse),
            transactionID: Self.transactionID,
            attributes: [sample.attribute],
            into: &buffer
        )
        let value = bytes(hex: sample.value)
        let padding = [UInt8](repeating: 0, count: (4 - value.count % 4) % 4)
        let expected = bigEndian(sample.attribute.type) + bigEndian(UInt16(value.count)) + value + padding
        #expect(hex(buffer.getSlice(at: 20, length: buffer.readableBytes - 20)!) == hex(expected))
        #expect(buffer.getInteger(at: 2, as: UInt16.self) == UInt16(expected.count))

        let message = try STUNMessage(decoding: buffer)
        #expect(message.attributes == [sample.attribute])
        #expect(message.unknownComprehensionRequiredAttributes.isEmpty)
    }

    /// Decoding by hand-built bytes too, so a bug shared by encoder and decoder cannot hide.
    @Test(arguments: samples)
    func decodesTheValueBytes(sample: AttributeSample) throws {
        let message = try STUNMessage(
            decoding: rawMessage(
                transactionID: Self.transactionID.bytes,
                attributes: [(sample.attribute.type, bytes(hex: sample.value))]
            )
        )
        #expect(message.attributes == [sample.attribute])
    }

    @Test func typedGettersAnswerTheFirstOccurrence() throws {
        var buffer = ByteBuffer()
        let attributes: [STUNAttribute] = [
            .xorRelayedAddress(Self.ipv4), .xorRelayedAddress(Self.ipv6), .xorMappedAddress(Self.ipv4),
            .mappedAddress(Self.ipv6), .xorPeerAddress(Self.ipv6), .username("user"), .username("other"),
            .realm("firezone"), .nonce("nonce"), .software("snownet"), .errorCode(.staleNonce), .lifetime(600),
            .lifetime(0), .channelNumber(0x4001), .requestedTransport(17), .requestedAddressFamily(.v6),
            .additionalAddressFamily(.v6), .unknownAttributes([0x0018]), .priority(7), .useCandidate,
            .iceControlled(8), .iceControlling(9),
        ]
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .allocate, class: .successResponse),
            transactionID: Self.transactionID,
            attributes: attributes,
            into: &buffer
        )
        let message = try STUNMessage(decoding: buffer)
        #expect(message.attributes == attributes)
        #expect(message.xorRelayedAddresses == [Self.ipv4, Self.ipv6])
        #expect(message.xorMappedAddress == Self.ipv4)
        #expect(message.mappedAddress == Self.ipv6)
        #expect(message.xorPeerAddress == Self.ipv6)
        #expect(message.username == "user")
        #expect(message.realm == "firezone")
        #expect(message.nonce == "nonce")
        #expect(message.software == "snownet")
        #expect(message.errorCode == .staleNonce)
        #expect(message.errorCode?.code == 438)
        #expect(message.lifetime == 600)
        #expect(message.channelNumber == 0x4001)
        #expect(message.requestedTransport == 17)
        #expect(message.requestedAddressFamily == .v6)
        #expect(message.additionalAddressFamily == .v6)
        #expect(message.unknownAttributes == [0x0018])
        #expect(message.priority == 7)
        #expect(message.useCandidate)
        #expect(message.iceControlled == 8)
        #expect(message.iceControlling == 9)
        #expect(!message.hasMessageIntegrity)
        #expect(!message.hasFingerprint)
    }

    @Test func gettersOfAbsentAttributesAreEmpty() throws {
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .binding, class: .request),
            transactionID: Self.transactionID,
            attributes: [],
            into: &buffer
        )
        #expect(buffer.readableBytes == 20)
        let message = try STUNMessage(decoding: buffer)
        #expect(message.attributes.isEmpty)
        #expect(message.username == nil && message.lifetime == nil && message.errorCode == nil)
        #expect(message.xorRelayedAddresses.isEmpty)
        #expect(!message.useCandidate)
        #expect(!message.verifyMessageIntegrity(key: Array("key".utf8)))
    }

    /// Reserved and RFFU bits are ignored on receipt (RFC 8489 §14.1, §14.8; RFC 8656 §18.1, §18.6, §18.8).
    @Test func ignoresReservedBits() throws {
        let message = try STUNMessage(
            decoding: rawMessage(attributes: [
                (STUNConstants.AttributeType.xorMappedAddress, bytes(hex: "ff01 a147 e112a643")),
                (STUNConstants.AttributeType.errorCode, bytes(hex: "fffffc04")),
                (STUNConstants.AttributeType.channelNumber, bytes(hex: "4000 ffff")),
                (STUNConstants.AttributeType.requestedTransport, bytes(hex: "11 ffffff")),
                (STUNConstants.AttributeType.requestedAddressFamily, bytes(hex: "02 ffffff")),
            ])
        )
        #expect(message.xorMappedAddress?.port == 32853)
        #expect(message.errorCode == STUNErrorCode(code: 404, reason: ""))
        #expect(message.channelNumber == 0x4000)
        #expect(message.requestedTransport == 17)
        #expect(message.requestedAddressFamily == .v6)
    }

    /// RFC 8489 §6.3.1: comprehension-required attributes we do not know are listed for a 420; the
    /// comprehension-optional ones are skipped. DONT-FRAGMENT and DATA are among
    /// the former (EVEN-PORT and RESERVATION-TOKEN are known: coturn's clients send them, so the relay serves them).
    @Test func listsUnknownComprehensionRequiredAttributes() throws {
        let message = try STUNMessage(
            decoding: rawMessage(attributes: [
                (STUNConstants.AttributeType.dontFragment, []),
                (STUNConstants.AttributeType.lifetime, bigEndian(UInt32(60))),
                (STUNConstants.AttributeType.evenPort, [0x80]),
                (0x8005, [1, 2, 3]),
                (STUNConstants.AttributeType.passwordAlgorithms, [0, 1, 0, 0]),
                (STUNConstants.AttributeType.data, [1, 2, 3, 4, 5]),
                (0x7FFF, []),
            ])
        )
        #expect(message.attributes == [.lifetime(60), .evenPort(reserve: true)])
        #expect(message.unknownComprehensionRequiredAttributes == [0x001A, 0x0013, 0x7FFF])
    }

    @Test func errorCodesCarryTheirReasonPhrases() {
        let expected: [(STUNErrorCode, UInt16, String)] = [
            (.tryAlternate, 300, "Try Alternate"),
            (.badRequest, 400, "Bad Request"),
            (.unauthorized, 401, "Unauthorized"),
            (.forbidden, 403, "Forbidden"),
            (.unknownAttribute, 420, "Unknown Attribute"),
            (.allocationMismatch, 437, "Allocation Mismatch"),
            (.staleNonce, 438, "Stale Nonce"),
            (.addressFamilyNotSupported, 440, "Address Family not Supported"),
            (.wrongCredentials, 441, "Wrong Credentials"),
            (.unsupportedTransportProtocol, 442, "Unsupported Transport Protocol"),
            (.peerAddressFamilyMismatch, 443, "Peer Address Family Mismatch"),
            (.allocationQuotaReached, 486, "Allocation Quota Reached"),
            (.serverError, 500, "Server Error"),
            (.insufficientCapacity, 508, "Insufficient Capacity"),
        ]
        for (error, code, reason) in expected {
            #expect(error.code == code)
            #expect(error.reason == reason)
            #expect(error.description == "\(code) \(reason)")
        }
    }
}
