import FirezoneCrypto
import IPPacket
import NIOCore

/// A STUN message decoded from one datagram.
///
/// Decoding checks the framing of every attribute and decodes the values of the attributes we know
/// (``STUNAttribute``); a datagram that fails is rejected with a ``STUNDecodeError``. What decoding does not
/// decide is left to the caller, as RFC 8489 leaves it to the STUN usage:
/// - unknown comprehension-required attributes are listed in ``unknownComprehensionRequiredAttributes``, for a
///   server to answer 420 (RFC 8489 §6.3.1) and a client to fail the transaction;
/// - MESSAGE-INTEGRITY is checked on demand with ``verifyMessageIntegrity(key:)``, because the key depends on
///   USERNAME and REALM;
/// - FINGERPRINT, when present, is verified here: it needs no key.
///
/// The message keeps the datagram (a reference to its bytes, not a copy) for the integrity check.
public struct STUNMessage: Sendable {
    public let type: STUNMessageType
    public let transactionID: TransactionID
    /// The attributes we know, in wire order, up to MESSAGE-INTEGRITY. Duplicates are kept; the typed getters
    /// answer the first (RFC 8489 §14: "only the first occurrence needs to be processed by a receiver").
    public let attributes: [STUNAttribute]
    /// The comprehension-required attribute types (0x0000–0x7FFF) before MESSAGE-INTEGRITY that we do not know,
    /// in wire order. Comprehension-optional ones (0x8000–0xFFFF) are skipped silently.
    public let unknownComprehensionRequiredAttributes: [UInt16]
    public let hasFingerprint: Bool
    /// The datagram: exactly the message.
    public let buffer: ByteBuffer
    /// Where the MESSAGE-INTEGRITY attribute starts, from the start of the message.
    private let messageIntegrityOffset: Int?

    public var hasMessageIntegrity: Bool {
        self.messageIntegrityOffset != nil
    }

    /// Decodes `buffer`'s readable bytes, which must be exactly one STUN message.
    public init(decoding buffer: ByteBuffer) throws(STUNDecodeError) {
        let header = try STUNMessageHeader(decoding: buffer)
        // One UDP datagram carries one STUN message: nothing may follow it, and a short datagram is truncated.
        let available = buffer.readableBytes - STUNConstants.headerLength
        guard header.length == available else {
            throw .lengthMismatch(declared: header.length, actual: available)
        }
        let base = buffer.readerIndex
        let messageLength = buffer.readableBytes

        var attributes: [STUNAttribute] = []
        var unknown: [UInt16] = []
        var messageIntegrityOffset: Int?
        var hasFingerprint = false
        var offset = STUNConstants.headerLength
        // Each attribute starts on a 4-byte boundary of a message whose length is a multiple of 4, so while any
        // bytes remain, a whole attribute header does.
        while offset < messageLength {
            let type = buffer.getInteger(at: base + offset, as: UInt16.self)!
            let length = Int(buffer.getInteger(at: base + offset + 2, as: UInt16.self)!)
            let valueOffset = offset + STUNConstants.attributeHeaderLength
            let paddedLength = length + STUNMessageEncoder.padding(for: length)
            guard paddedLength <= messageLength - valueOffset else {
                throw .truncatedAttribute(type: type, length: length, available: messageLength - valueOffset)
            }
            // RFC 8489 §14.7:
            // > When present, the FINGERPRINT attribute MUST be the last attribute in the message
            guard !hasFingerprint else {
                throw .attributeAfterFingerprint(type: type)
            }

            if type == STUNConstants.AttributeType.fingerprint {
                guard length == STUNConstants.fingerprintLength else {
                    throw .malformedAttribute(type: type, length: length)
                }
                // RFC 8489 §14.7: the CRC-32 of the message up to (but excluding) FINGERPRINT, with the length
                // field including FINGERPRINT, which it already does since FINGERPRINT is last.
                let received = buffer.getInteger(at: base + valueOffset, as: UInt32.self)!
                let computed =
                    buffer.withUnsafeReadableBytes {
                        CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<offset]))
                    } ^ STUNConstants.fingerprintXOR
                guard received == computed else {
                    throw .badFingerprint(received: received, computed: computed)
                }
                hasFingerprint = true
            } else if messageIntegrityOffset != nil {
                // RFC 5389 §15.4:
                // > With the exception of the FINGERPRINT attribute, which appears after MESSAGE-INTEGRITY, agents
                // > MUST ignore all other attributes that follow MESSAGE-INTEGRITY.
                // RFC 8489 adds MESSAGE-INTEGRITY-SHA256 to the exceptions; we do not support it, so it is ignored
                // too. Their framing was still checked above.
            } else if type == STUNConstants.AttributeType.messageIntegrity {
                guard length == STUNConstants.messageIntegrityLength else {
                    throw .malformedAttribute(type: type, length: length)
                }
                messageIntegrityOffset = offset
            } else if let attribute = try STUNAttribute.decode(
                type: type,
                at: base + valueOffset,
                length: length,
                in: buffer,
                transactionID: header.transactionID
            ) {
                attributes.append(attribute)
            } else if STUNConstants.comprehensionRequiredAttributes.contains(type) {
                unknown.append(type)
            }
            offset = valueOffset + paddedLength
        }

        self.type = header.type
        self.transactionID = header.transactionID
        self.attributes = attributes
        self.unknownComprehensionRequiredAttributes = unknown
        self.hasFingerprint = hasFingerprint
        self.messageIntegrityOffset = messageIntegrityOffset
        self.buffer = buffer
    }

    /// Whether the message carries a MESSAGE-INTEGRITY that is the HMAC-SHA1 of the message under `key`; false
    /// without one. The comparison takes the same time wherever the MACs differ.
    ///
    /// RFC 8489 §14.5:
    /// > when validating the MESSAGE-INTEGRITY, the Length field in the STUN header must be adjusted to point to the
    /// > end of the MESSAGE-INTEGRITY attribute prior to calculating the HMAC over the STUN message, up to and
    /// > including the attribute preceding the MESSAGE-INTEGRITY attribute. Such adjustment is necessary when
    /// > attributes, such as FINGERPRINT and MESSAGE-INTEGRITY-SHA256, appear after MESSAGE-INTEGRITY.
    public func verifyMessageIntegrity(key: [UInt8]) -> Bool {
        guard let integrityOffset = self.messageIntegrityOffset else {
            return false
        }
        let adjustedLength = UInt16(
            integrityOffset + STUNConstants.attributeHeaderLength + STUNConstants.messageIntegrityLength
                - STUNConstants.headerLength
        )
        return self.buffer.withUnsafeReadableBytes { message in
            var hmac = HMACSHA1(key: key)
            // The message type, the adjusted length, and everything from the magic cookie to MESSAGE-INTEGRITY:
            // three pieces so the datagram itself is neither copied nor modified.
            hmac.update(UnsafeRawBufferPointer(rebasing: message[0..<2]))
            withUnsafeBytes(of: adjustedLength.bigEndian) { hmac.update($0) }
            hmac.update(UnsafeRawBufferPointer(rebasing: message[4..<integrityOffset]))
            let computed = hmac.finalize()
            let valueOffset = integrityOffset + STUNConstants.attributeHeaderLength
            var difference: UInt8 = 0
            for index in 0..<STUNConstants.messageIntegrityLength {
                difference |= computed[index] ^ message[valueOffset + index]
            }
            return difference == 0
        }
    }

    // MARK: Typed getters (the first occurrence of each attribute)

    public var mappedAddress: IPSocketAddress? {
        self.first { if case .mappedAddress(let value) = $0 { value } else { nil } }
    }
    public var xorMappedAddress: IPSocketAddress? {
        self.first { if case .xorMappedAddress(let value) = $0 { value } else { nil } }
    }
    /// Every XOR-RELAYED-ADDRESS: an allocation for both families carries two (RFC 8656 §7.3).
    public var xorRelayedAddresses: [IPSocketAddress] {
        self.attributes.compactMap { if case .xorRelayedAddress(let value) = $0 { value } else { nil } }
    }
    public var xorPeerAddress: IPSocketAddress? {
        self.first { if case .xorPeerAddress(let value) = $0 { value } else { nil } }
    }
    public var username: String? {
        self.first { if case .username(let value) = $0 { value } else { nil } }
    }
    public var realm: String? {
        self.first { if case .realm(let value) = $0 { value } else { nil } }
    }
    public var nonce: String? {
        self.first { if case .nonce(let value) = $0 { value } else { nil } }
    }
    public var software: String? {
        self.first { if case .software(let value) = $0 { value } else { nil } }
    }
    public var errorCode: STUNErrorCode? {
        self.first { if case .errorCode(let value) = $0 { value } else { nil } }
    }
    /// Seconds.
    public var lifetime: UInt32? {
        self.first { if case .lifetime(let value) = $0 { value } else { nil } }
    }
    public var channelNumber: UInt16? {
        self.first { if case .channelNumber(let value) = $0 { value } else { nil } }
    }
    /// EVEN-PORT's R bit when the attribute is present.
    public var evenPort: Bool? {
        self.first { if case .evenPort(let reserve) = $0 { reserve } else { nil } }
    }
    public var reservationToken: UInt64? {
        self.first { if case .reservationToken(let token) = $0 { token } else { nil } }
    }
    public var requestedTransport: UInt8? {
        self.first { if case .requestedTransport(let value) = $0 { value } else { nil } }
    }
    public var requestedAddressFamily: IPVersion? {
        self.first { if case .requestedAddressFamily(let value) = $0 { value } else { nil } }
    }
    public var additionalAddressFamily: IPVersion? {
        self.first { if case .additionalAddressFamily(let value) = $0 { value } else { nil } }
    }
    public var unknownAttributes: [UInt16]? {
        self.first { if case .unknownAttributes(let value) = $0 { value } else { nil } }
    }
    public var priority: UInt32? {
        self.first { if case .priority(let value) = $0 { value } else { nil } }
    }
    public var useCandidate: Bool {
        self.attributes.contains(.useCandidate)
    }
    public var iceControlled: UInt64? {
        self.first { if case .iceControlled(let value) = $0 { value } else { nil } }
    }
    public var iceControlling: UInt64? {
        self.first { if case .iceControlling(let value) = $0 { value } else { nil } }
    }

    private func first<T>(_ extract: (STUNAttribute) -> T?) -> T? {
        for attribute in self.attributes {
            if let value = extract(attribute) {
                return value
            }
        }
        return nil
    }
}
