import FirezoneCrypto
import FirezoneTesting
import NIOCore
import STUN
import Testing

/// A datagram and the error it must be rejected with.
struct DecodeErrorCase: Sendable, CustomTestStringConvertible {
    var name: String
    var datagram: ByteBuffer
    var error: STUNDecodeError

    var testDescription: String { self.name }
}

private typealias Types = STUNConstants.AttributeType

/// Every way ``STUNMessage/init(decoding:)`` rejects a datagram.
struct STUNDecodeErrorTests {
    static let cases: [DecodeErrorCase] = [
        DecodeErrorCase(name: "empty", datagram: ByteBuffer(), error: .tooShort(length: 0)),
        DecodeErrorCase(
            name: "19 bytes",
            datagram: buffer(hex: "000100002112a442 0102030405060708090a0b"),
            error: .tooShort(length: 19)
        ),
        DecodeErrorCase(
            name: "first bit set",
            datagram: buffer(hex: "800100002112a442 0102030405060708090a0b0c"),
            error: .notSTUN(firstByte: 0x80)
        ),
        DecodeErrorCase(
            name: "second bit set (channel data)",
            datagram: buffer(hex: "400000102112a442 0102030405060708090a0b0c"),
            error: .notSTUN(firstByte: 0x40)
        ),
        DecodeErrorCase(
            name: "RFC 3489 message without magic cookie",
            datagram: buffer(hex: "00010000deadbeef 0102030405060708090a0b0c"),
            error: .badMagicCookie(0xdead_beef)
        ),
        DecodeErrorCase(
            name: "length not a multiple of 4",
            datagram: buffer(hex: "000100022112a442 0102030405060708090a0b0c 0000"),
            error: .unalignedLength(2)
        ),
        DecodeErrorCase(
            name: "length beyond the datagram",
            datagram: buffer(hex: "000100082112a442 0102030405060708090a0b0c 00000000"),
            error: .lengthMismatch(declared: 8, actual: 4)
        ),
        DecodeErrorCase(
            name: "bytes after the message",
            datagram: buffer(hex: "000100002112a442 0102030405060708090a0b0c 00000000"),
            error: .lengthMismatch(declared: 0, actual: 4)
        ),
        DecodeErrorCase(
            name: "attribute longer than the message",
            datagram: rawMessage(attributes: [(Types.software, [])], length: 4).settingInteger(UInt16(8), at: 22),
            error: .truncatedAttribute(type: Types.software, length: 8, available: 0)
        ),
        DecodeErrorCase(
            name: "attribute padding beyond the message",
            datagram: rawMessage(attributes: [(Types.software, [1, 2, 3, 4])]).settingInteger(UInt16(5), at: 22),
            error: .truncatedAttribute(type: Types.software, length: 5, available: 4)
        ),
        DecodeErrorCase(
            name: "IPv4 XOR-MAPPED-ADDRESS of 12 bytes",
            datagram: rawMessage(attributes: [(Types.xorMappedAddress, bytes(hex: "0001a147e112a643 00000000"))]),
            error: .malformedAttribute(type: Types.xorMappedAddress, length: 12)
        ),
        DecodeErrorCase(
            name: "IPv6 XOR-PEER-ADDRESS of 8 bytes",
            datagram: rawMessage(attributes: [(Types.xorPeerAddress, bytes(hex: "0002a147e112a643"))]),
            error: .malformedAttribute(type: Types.xorPeerAddress, length: 8)
        ),
        DecodeErrorCase(
            name: "MAPPED-ADDRESS of 2 bytes",
            datagram: rawMessage(attributes: [(Types.mappedAddress, [0, 1])]),
            error: .malformedAttribute(type: Types.mappedAddress, length: 2)
        ),
        DecodeErrorCase(
            name: "XOR-RELAYED-ADDRESS of family 3",
            datagram: rawMessage(attributes: [(Types.xorRelayedAddress, bytes(hex: "0003a147e112a643"))]),
            error: .invalidAddressFamily(type: Types.xorRelayedAddress, family: 3)
        ),
        DecodeErrorCase(
            name: "REQUESTED-ADDRESS-FAMILY 3",
            datagram: rawMessage(attributes: [(Types.requestedAddressFamily, [3, 0, 0, 0])]),
            error: .invalidAddressFamily(type: Types.requestedAddressFamily, family: 3)
        ),
        DecodeErrorCase(
            name: "ADDITIONAL-ADDRESS-FAMILY 0",
            datagram: rawMessage(attributes: [(Types.additionalAddressFamily, [0, 0, 0, 0])]),
            error: .invalidAddressFamily(type: Types.additionalAddressFamily, family: 0)
        ),
        DecodeErrorCase(
            name: "REQUESTED-ADDRESS-FAMILY of 1 byte",
            datagram: rawMessage(attributes: [(Types.requestedAddressFamily, [1])]),
            error: .malformedAttribute(type: Types.requestedAddressFamily, length: 1)
        ),
        DecodeErrorCase(
            name: "LIFETIME of 8 bytes",
            datagram: rawMessage(attributes: [(Types.lifetime, [0, 0, 0, 0, 0, 0, 2, 88])]),
            error: .malformedAttribute(type: Types.lifetime, length: 8)
        ),
        DecodeErrorCase(
            name: "CHANNEL-NUMBER of 2 bytes",
            datagram: rawMessage(attributes: [(Types.channelNumber, [0x40, 0])]),
            error: .malformedAttribute(type: Types.channelNumber, length: 2)
        ),
        DecodeErrorCase(
            name: "REQUESTED-TRANSPORT of 1 byte",
            datagram: rawMessage(attributes: [(Types.requestedTransport, [17])]),
            error: .malformedAttribute(type: Types.requestedTransport, length: 1)
        ),
        DecodeErrorCase(
            name: "PRIORITY of 8 bytes",
            datagram: rawMessage(attributes: [(Types.priority, [UInt8](repeating: 1, count: 8))]),
            error: .malformedAttribute(type: Types.priority, length: 8)
        ),
        DecodeErrorCase(
            name: "USE-CANDIDATE with a value",
            datagram: rawMessage(attributes: [(Types.useCandidate, [1, 2, 3, 4])]),
            error: .malformedAttribute(type: Types.useCandidate, length: 4)
        ),
        DecodeErrorCase(
            name: "ICE-CONTROLLING of 4 bytes",
            datagram: rawMessage(attributes: [(Types.iceControlling, [1, 2, 3, 4])]),
            error: .malformedAttribute(type: Types.iceControlling, length: 4)
        ),
        DecodeErrorCase(
            name: "ICE-CONTROLLED of 12 bytes",
            datagram: rawMessage(attributes: [(Types.iceControlled, [UInt8](repeating: 1, count: 12))]),
            error: .malformedAttribute(type: Types.iceControlled, length: 12)
        ),
        DecodeErrorCase(
            name: "UNKNOWN-ATTRIBUTES of odd length",
            datagram: rawMessage(attributes: [(Types.unknownAttributes, [0, 0x18, 0])]),
            error: .malformedAttribute(type: Types.unknownAttributes, length: 3)
        ),
        DecodeErrorCase(
            name: "ERROR-CODE of 3 bytes",
            datagram: rawMessage(type: 0x0111, attributes: [(Types.errorCode, [0, 0, 4])]),
            error: .malformedAttribute(type: Types.errorCode, length: 3)
        ),
        DecodeErrorCase(
            name: "ERROR-CODE of class 2",
            datagram: rawMessage(type: 0x0111, attributes: [(Types.errorCode, [0, 0, 2, 0])]),
            error: .malformedAttribute(type: Types.errorCode, length: 4)
        ),
        DecodeErrorCase(
            name: "ERROR-CODE of class 7",
            datagram: rawMessage(type: 0x0111, attributes: [(Types.errorCode, [0, 0, 7, 0])]),
            error: .malformedAttribute(type: Types.errorCode, length: 4)
        ),
        DecodeErrorCase(
            name: "ERROR-CODE of number 100",
            datagram: rawMessage(type: 0x0111, attributes: [(Types.errorCode, [0, 0, 4, 100])]),
            error: .malformedAttribute(type: Types.errorCode, length: 4)
        ),
        DecodeErrorCase(
            name: "ERROR-CODE reason not UTF-8",
            datagram: rawMessage(type: 0x0111, attributes: [(Types.errorCode, [0, 0, 4, 0, 0xc3, 0x28])]),
            error: .invalidUTF8(type: Types.errorCode)
        ),
        DecodeErrorCase(
            name: "USERNAME not UTF-8",
            datagram: rawMessage(attributes: [(Types.username, [0x61, 0xff, 0xfe])]),
            error: .invalidUTF8(type: Types.username)
        ),
        DecodeErrorCase(
            name: "REALM with a truncated UTF-8 sequence",
            datagram: rawMessage(attributes: [(Types.realm, [0xe3, 0x83])]),
            error: .invalidUTF8(type: Types.realm)
        ),
        DecodeErrorCase(
            name: "NONCE with an overlong encoding",
            datagram: rawMessage(attributes: [(Types.nonce, [0xc0, 0xaf])]),
            error: .invalidUTF8(type: Types.nonce)
        ),
        DecodeErrorCase(
            name: "SOFTWARE of 764 bytes",
            datagram: rawMessage(attributes: [(Types.software, [UInt8](repeating: 0x61, count: 764))]),
            error: .malformedAttribute(type: Types.software, length: 764)
        ),
        DecodeErrorCase(
            name: "MESSAGE-INTEGRITY of 16 bytes",
            datagram: rawMessage(attributes: [(Types.messageIntegrity, [UInt8](repeating: 0, count: 16))]),
            error: .malformedAttribute(type: Types.messageIntegrity, length: 16)
        ),
        DecodeErrorCase(
            name: "FINGERPRINT of 8 bytes",
            datagram: rawMessage(attributes: [(Types.fingerprint, [UInt8](repeating: 0, count: 8))]),
            error: .malformedAttribute(type: Types.fingerprint, length: 8)
        ),
        DecodeErrorCase(
            name: "FINGERPRINT that does not match",
            datagram: rawMessage(attributes: [(Types.fingerprint, [0, 0, 0, 0])]),
            error: .badFingerprint(
                received: 0,
                computed: fingerprint(of: rawMessage(attributes: [(Types.fingerprint, [0, 0, 0, 0])]))
            )
        ),
        DecodeErrorCase(
            name: "attribute after FINGERPRINT",
            datagram: messageWithAttributeAfterFingerprint(),
            error: .attributeAfterFingerprint(type: Types.software)
        ),
    ]

    @Test(arguments: cases)
    func rejectsTheDatagram(errorCase: DecodeErrorCase) {
        #expect(throws: errorCase.error) {
            try STUNMessage(decoding: errorCase.datagram)
        }
    }

    /// The header of a datagram whose attributes fail still tells a server whom to answer.
    @Test func readsTheHeaderOfAMessageWithBadAttributes() throws {
        let datagram = rawMessage(type: 0x0003, attributes: [(Types.requestedAddressFamily, [3, 0, 0, 0])])
        #expect(throws: STUNDecodeError.invalidAddressFamily(type: Types.requestedAddressFamily, family: 3)) {
            try STUNMessage(decoding: datagram)
        }
        let header = try STUNMessageHeader(decoding: datagram)
        #expect(header.type == STUNMessageType(method: .allocate, class: .request))
        #expect(header.transactionID == TransactionID(bytes: Array(0x01...0x0C)))
        #expect(header.length == 8)
    }

    @Test(arguments: cases.prefix(6))
    func theHeaderRejectsWhatIsNotAHeader(errorCase: DecodeErrorCase) {
        #expect(throws: errorCase.error) {
            try STUNMessageHeader(decoding: errorCase.datagram)
        }
    }

    @Test func decodesAMessageAtANonZeroReaderIndex() throws {
        var datagram = ByteBuffer(bytes: [0xAA, 0xBB])
        datagram.writeImmutableBuffer(rawMessage(attributes: [(Types.lifetime, [0, 0, 2, 88])]))
        datagram.moveReaderIndex(forwardBy: 2)
        let message = try STUNMessage(decoding: datagram)
        #expect(message.lifetime == 600)
    }

    @Test func describesEveryError() {
        for errorCase in Self.cases {
            #expect(!errorCase.error.description.isEmpty)
        }
        #expect(
            STUNDecodeError.malformedAttribute(type: 0x000D, length: 8).description
                == "attribute 0x000d has a malformed value of 8 bytes"
        )
    }
}

/// The FINGERPRINT value of the message whose last attribute is a 4-byte FINGERPRINT.
private func fingerprint(of message: ByteBuffer) -> UInt32 {
    message.withUnsafeReadableBytes {
        CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<($0.count - 8)]))
    } ^ STUNConstants.fingerprintXOR
}

/// A valid FINGERPRINT (over a header whose length includes what follows) and then SOFTWARE.
private func messageWithAttributeAfterFingerprint() -> ByteBuffer {
    var message = rawMessage(attributes: [(Types.fingerprint, [0, 0, 0, 0]), (Types.software, Array("x".utf8))])
    let crc =
        message.withUnsafeReadableBytes {
            CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<20]))
        } ^ STUNConstants.fingerprintXOR
    message.setInteger(crc, at: 24)
    return message
}

extension ByteBuffer {
    fileprivate func settingInteger<T: FixedWidthInteger>(_ value: T, at index: Int) -> ByteBuffer {
        var copy = self
        copy.setInteger(value, at: index)
        return copy
    }
}
