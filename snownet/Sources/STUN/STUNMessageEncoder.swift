import FirezoneCrypto
import NIOCore

/// Writes one STUN message into a caller's buffer: the header, then attributes, then optionally
/// MESSAGE-INTEGRITY and FINGERPRINT, in that order.
///
/// The header's length field is kept current after every step, so the bytes from the header to the writer
/// index are always a complete message:
///
/// ```swift
/// var encoder = STUNMessageEncoder(type: type, transactionID: id, into: &buffer)
/// encoder.append(.software("snownet"), into: &buffer)
/// encoder.appendMessageIntegrity(key: key, into: &buffer)
/// encoder.appendFingerprint(into: &buffer)
/// ```
///
/// or, in one call, ``encode(type:transactionID:attributes:messageIntegrityKey:fingerprint:into:)``.
///
/// Appending out of order (an attribute after MESSAGE-INTEGRITY, anything after FINGERPRINT), writing to the
/// buffer in between, or exceeding the 16-bit message length is a programming error and traps.
public struct STUNMessageEncoder {
    public let type: STUNMessageType
    public let transactionID: TransactionID

    /// Where the header starts in the buffer.
    private let start: Int
    /// Where the next attribute goes: the buffer's writer index, unless someone else wrote to it.
    private var end: Int
    private var stage: Stage = .attributes
    /// The value of padding bytes. RFC 8489 §14: "The padding bits MUST be set to zero on sending"; only the
    /// RFC 5769 test vectors, which pad with spaces, need anything else.
    package var paddingByte: UInt8 = 0

    private enum Stage {
        /// Attributes, MESSAGE-INTEGRITY or FINGERPRINT may follow.
        case attributes
        /// RFC 8489 §14.5: only FINGERPRINT may follow MESSAGE-INTEGRITY.
        case afterMessageIntegrity
        /// RFC 8489 §14.7: FINGERPRINT is last.
        case afterFingerprint
    }

    /// Writes the 20-byte header at `buffer`'s writer index.
    public init(type: STUNMessageType, transactionID: TransactionID, into buffer: inout ByteBuffer) {
        self.type = type
        self.transactionID = transactionID
        self.start = buffer.writerIndex
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(STUNConstants.magicCookie)
        buffer.writeTransactionID(transactionID)
        self.end = buffer.writerIndex
    }

    /// Appends `attribute`, padded to a multiple of four bytes.
    public mutating func append(_ attribute: STUNAttribute, into buffer: inout ByteBuffer) {
        precondition(self.stage == .attributes, "RFC 8489 §14.5: only FINGERPRINT may follow MESSAGE-INTEGRITY")
        self.checkUntouched(buffer)
        let attributeStart = buffer.writerIndex
        buffer.writeInteger(attribute.type)
        buffer.writeInteger(UInt16(0))
        attribute.writeValue(into: &buffer, transactionID: self.transactionID)
        let valueLength = buffer.writerIndex - attributeStart - STUNConstants.attributeHeaderLength
        precondition(valueLength <= Int(UInt16.max), "a STUN attribute value has at most 65535 bytes")
        buffer.setInteger(UInt16(valueLength), at: attributeStart + 2)
        // RFC 8489 §14:
        // > The value in the Length field MUST contain the length of the Value part of the attribute, prior to
        // > padding, measured in bytes. Since STUN aligns attributes on 32-bit boundaries, attributes whose
        // > content is not a multiple of 4 bytes are padded with 1, 2, or 3 bytes of padding so that its value
        // > contains a multiple of 4 bytes.
        buffer.writePadding(Self.padding(for: valueLength), byte: self.paddingByte)
        self.finishAttribute(in: &buffer)
    }

    /// Appends MESSAGE-INTEGRITY, the HMAC-SHA1 under `key` of everything before it.
    ///
    /// The key is the password for short-term credentials (RFC 8489 §9.1.1, ICE) and
    /// ``LongTermCredentials/key(username:realm:password:)`` for long-term ones (TURN).
    ///
    /// RFC 8489 §14.5:
    /// > The text used as input to HMAC is the STUN message, up to and including the attribute preceding the
    /// > MESSAGE-INTEGRITY attribute. The Length field of the STUN message header is adjusted to point to the end
    /// > of the MESSAGE-INTEGRITY attribute. The value of the MESSAGE-INTEGRITY attribute is set to a dummy value.
    public mutating func appendMessageIntegrity(key: [UInt8], into buffer: inout ByteBuffer) {
        precondition(self.stage == .attributes, "a STUN message has one MESSAGE-INTEGRITY, before FINGERPRINT")
        self.checkUntouched(buffer)
        let attributeStart = buffer.writerIndex
        buffer.writeInteger(STUNConstants.AttributeType.messageIntegrity)
        buffer.writeInteger(UInt16(STUNConstants.messageIntegrityLength))
        // The length points to the end of MESSAGE-INTEGRITY before the HMAC is computed; it covers no dummy
        // value, since the HMAC input stops before the attribute.
        self.setLength(
            attributeStart + STUNConstants.attributeHeaderLength + STUNConstants.messageIntegrityLength,
            in: &buffer
        )
        let mac = buffer.withUnsafeReadableBytes { bytes in
            let offset = buffer.readerIndex
            return HMACSHA1.authenticationCode(
                for: UnsafeRawBufferPointer(rebasing: bytes[(self.start - offset)..<(attributeStart - offset)]),
                key: key
            )
        }
        buffer.writeBytes(mac)
        self.stage = .afterMessageIntegrity
        self.finishAttribute(in: &buffer)
    }

    /// Appends FINGERPRINT, the CRC-32 of everything before it XOR 0x5354554e.
    ///
    /// RFC 8489 §14.7:
    /// > As with MESSAGE-INTEGRITY and MESSAGE-INTEGRITY-SHA256, the CRC used in the FINGERPRINT attribute covers
    /// > the Length field from the STUN message header. Therefore, prior to computation of the CRC, this value
    /// > must be correct and include the CRC attribute as part of the message length.
    public mutating func appendFingerprint(into buffer: inout ByteBuffer) {
        precondition(self.stage != .afterFingerprint, "a STUN message has one FINGERPRINT")
        self.checkUntouched(buffer)
        let attributeStart = buffer.writerIndex
        buffer.writeInteger(STUNConstants.AttributeType.fingerprint)
        buffer.writeInteger(UInt16(STUNConstants.fingerprintLength))
        self.setLength(
            attributeStart + STUNConstants.attributeHeaderLength + STUNConstants.fingerprintLength,
            in: &buffer
        )
        let crc = buffer.withUnsafeReadableBytes { bytes in
            let offset = buffer.readerIndex
            return CRC32.checksum(
                UnsafeRawBufferPointer(rebasing: bytes[(self.start - offset)..<(attributeStart - offset)])
            )
        }
        buffer.writeInteger(crc ^ STUNConstants.fingerprintXOR)
        self.stage = .afterFingerprint
        self.finishAttribute(in: &buffer)
    }

    /// Writes a whole message at `buffer`'s writer index: header, `attributes` in order, MESSAGE-INTEGRITY if a
    /// key is given, FINGERPRINT if asked for.
    public static func encode(
        type: STUNMessageType,
        transactionID: TransactionID,
        attributes: [STUNAttribute],
        messageIntegrityKey: [UInt8]? = nil,
        fingerprint: Bool = false,
        into buffer: inout ByteBuffer
    ) {
        var encoder = STUNMessageEncoder(type: type, transactionID: transactionID, into: &buffer)
        for attribute in attributes {
            encoder.append(attribute, into: &buffer)
        }
        if let messageIntegrityKey {
            encoder.appendMessageIntegrity(key: messageIntegrityKey, into: &buffer)
        }
        if fingerprint {
            encoder.appendFingerprint(into: &buffer)
        }
    }

    /// The bytes of padding after a value of `length` bytes: 0 to 3.
    @inlinable
    public static func padding(for length: Int) -> Int {
        (STUNConstants.attributeAlignment - length % STUNConstants.attributeAlignment)
            % STUNConstants.attributeAlignment
    }

    private func checkUntouched(_ buffer: ByteBuffer) {
        precondition(
            buffer.writerIndex == self.end && buffer.readerIndex <= self.start,
            "the buffer changed between the steps of a STUN encoder"
        )
    }

    /// Points the header's length at the end of the attribute just written.
    private mutating func finishAttribute(in buffer: inout ByteBuffer) {
        self.setLength(buffer.writerIndex, in: &buffer)
        self.end = buffer.writerIndex
    }

    /// Sets the header's message length so that the message ends at `messageEnd`.
    private func setLength(_ messageEnd: Int, in buffer: inout ByteBuffer) {
        let length = messageEnd - self.start - STUNConstants.headerLength
        precondition(length <= Int(UInt16.max), "a STUN message has at most 65535 bytes after its header")
        buffer.setInteger(UInt16(length), at: self.start + 2)
    }
}
