import IPPacket
import NIOCore

extension STUNAttribute {
    /// The attribute of type `type` whose value is the `length` bytes at `index` of `buffer`, or nil if the type is
    /// not one of ours. `transactionID` unmasks the XOR addresses.
    ///
    /// Every value's length is checked together with its type (exactly, where the RFC fixes it): a length that is
    /// wrong is a malformed attribute, never a short read.
    static func decode(
        type: UInt16,
        at index: Int,
        length: Int,
        in buffer: ByteBuffer,
        transactionID: TransactionID
    ) throws(STUNDecodeError) -> STUNAttribute? {
        typealias Types = STUNConstants.AttributeType
        switch type {
        case Types.mappedAddress:
            return .mappedAddress(try decodeAddress(type: type, at: index, length: length, in: buffer, xor: nil))
        case Types.xorMappedAddress:
            return .xorMappedAddress(
                try decodeAddress(type: type, at: index, length: length, in: buffer, xor: transactionID)
            )
        case Types.xorRelayedAddress:
            return .xorRelayedAddress(
                try decodeAddress(type: type, at: index, length: length, in: buffer, xor: transactionID)
            )
        case Types.xorPeerAddress:
            return .xorPeerAddress(
                try decodeAddress(type: type, at: index, length: length, in: buffer, xor: transactionID)
            )
        case Types.username:
            return .username(try decodeText(type: type, at: index, length: length, in: buffer))
        case Types.realm:
            return .realm(try decodeText(type: type, at: index, length: length, in: buffer))
        case Types.nonce:
            return .nonce(try decodeText(type: type, at: index, length: length, in: buffer))
        case Types.software:
            return .software(try decodeText(type: type, at: index, length: length, in: buffer))
        case Types.errorCode:
            return .errorCode(try decodeErrorCode(at: index, length: length, in: buffer))
        case Types.lifetime:
            // RFC 8656 §18.2:
            // > The value portion of this attribute is 4 bytes long and consists of a 32-bit unsigned integral
            // > value representing the number of seconds remaining until expiration.
            return .lifetime(try integer(type: type, at: index, length: length, exactly: 4, in: buffer))
        case Types.channelNumber:
            // RFC 8656 §18.1:
            // > The value portion of this attribute is 4 bytes long and consists of a 16-bit unsigned integer
            // > followed by a two-octet RFFU (Reserved For Future Use) field, which MUST be set to 0 on
            // > transmission and MUST be ignored on reception.
            let value: UInt32 = try integer(type: type, at: index, length: length, exactly: 4, in: buffer)
            return .channelNumber(UInt16(truncatingIfNeeded: value >> 16))
        case Types.requestedTransport:
            // RFC 8656 §18.8: protocol (8 bits) and 24 bits of RFFU:
            // > The RFFU field MUST be set to zero on transmission and MUST be ignored on reception.
            let value: UInt32 = try integer(type: type, at: index, length: length, exactly: 4, in: buffer)
            return .requestedTransport(UInt8(truncatingIfNeeded: value >> 24))
        case Types.evenPort:
            // RFC 8656 §18.5:
            // > The value portion of this attribute is 1 byte long. [...] R: If 1, the server is requested to
            // > reserve the next-higher port number [...]. The other 7 bits of the attribute's value must be set
            // > to zero on transmission and ignored on reception.
            let value: UInt8 = try integer(type: type, at: index, length: length, exactly: 1, in: buffer)
            return .evenPort(reserve: value & 0x80 != 0)
        case Types.reservationToken:
            // RFC 8656 §18.9: "The attribute is 8 bytes long and its value contains a token".
            return .reservationToken(try integer(type: type, at: index, length: length, exactly: 8, in: buffer))
        case Types.requestedAddressFamily:
            return .requestedAddressFamily(try decodeFamily(type: type, at: index, length: length, in: buffer))
        case Types.additionalAddressFamily:
            // RFC 8656 §18.11:
            // > It is encoded in the same way as the REQUESTED-ADDRESS-FAMILY attribute
            return .additionalAddressFamily(try decodeFamily(type: type, at: index, length: length, in: buffer))
        case Types.unknownAttributes:
            // RFC 8489 §14.13:
            // > The attribute contains a list of 16-bit values, each of which represents an attribute type that
            // > was not understood by the server.
            guard length % 2 == 0 else {
                throw .malformedAttribute(type: type, length: length)
            }
            let types = stride(from: index, to: index + length, by: 2).map {
                buffer.getInteger(at: $0, as: UInt16.self)!
            }
            return .unknownAttributes(types)
        case Types.priority:
            // RFC 8445 §16.1:
            // > The PRIORITY attribute indicates the priority that is to be associated with a peer-reflexive
            // > candidate, if one will be discovered by this check. It is a 32-bit unsigned integer
            return .priority(try integer(type: type, at: index, length: length, exactly: 4, in: buffer))
        case Types.useCandidate:
            // RFC 8445 §16.1:
            // > The USE-CANDIDATE attribute indicates that the candidate pair resulting from this check will be
            // > used for transmission of data. The attribute has no content (the Length field of the attribute is
            // > zero); it serves as a flag.
            guard length == 0 else {
                throw .malformedAttribute(type: type, length: length)
            }
            return .useCandidate
        case Types.iceControlled:
            // RFC 8445 §16.1:
            // > The content of the attribute is a 64-bit unsigned integer in network byte order, which contains a
            // > random number. The number is used for solving role conflicts, when it is referred to as the
            // > "tiebreaker value".
            return .iceControlled(try integer(type: type, at: index, length: length, exactly: 8, in: buffer))
        case Types.iceControlling:
            return .iceControlling(try integer(type: type, at: index, length: length, exactly: 8, in: buffer))
        default:
            return nil
        }
    }

    private static func integer<T: FixedWidthInteger>(
        type: UInt16,
        at index: Int,
        length: Int,
        exactly expected: Int,
        in buffer: ByteBuffer
    ) throws(STUNDecodeError) -> T {
        guard length == expected, expected == MemoryLayout<T>.size else {
            throw .malformedAttribute(type: type, length: length)
        }
        return buffer.getInteger(at: index, as: T.self)!
    }

    /// MAPPED-ADDRESS and the XOR-…-ADDRESS attributes, unmasked when `transactionID` is given.
    ///
    /// RFC 8489 §14.2:
    /// > X-Port is computed by XOR'ing the mapped port with the most significant 16 bits of the magic cookie. If
    /// > the IP address family is IPv4, X-Address is computed by XOR'ing the mapped IP address with the magic
    /// > cookie. If the IP address family is IPv6, X-Address is computed by XOR'ing the mapped IP address with
    /// > the concatenation of the magic cookie and the 96-bit transaction ID.
    static func decodeAddress(
        type: UInt16,
        at index: Int,
        length: Int,
        in buffer: ByteBuffer,
        xor transactionID: TransactionID?
    ) throws(STUNDecodeError) -> IPSocketAddress {
        // RFC 8489 §14.1:
        // > The first 8 bits of the MAPPED-ADDRESS MUST be set to 0 and MUST be ignored by receivers.
        guard length >= 4 else {
            throw .malformedAttribute(type: type, length: length)
        }
        let family = buffer.getInteger(at: index + 1, as: UInt8.self)!
        guard let version = IPVersion(stunAddressFamily: family) else {
            throw .invalidAddressFamily(type: type, family: family)
        }
        // RFC 8489 §14.1:
        // > If the address family is IPv4, the address MUST be 32 bits. If the address family is IPv6, the
        // > address MUST be 128 bits.
        let addressLength = version == .v4 ? 4 : 16
        guard length == 4 + addressLength else {
            throw .malformedAttribute(type: type, length: length)
        }
        var port = buffer.getInteger(at: index + 2, as: UInt16.self)!
        let cookie = STUNConstants.magicCookie
        let address: IPAddress
        switch version {
        case .v4:
            var raw = buffer.getInteger(at: index + 4, as: UInt32.self)!
            if transactionID != nil {
                raw ^= cookie
            }
            address = .v4(IPv4Address(rawValue: raw))
        case .v6:
            var high = buffer.getInteger(at: index + 4, as: UInt64.self)!
            var low = buffer.getInteger(at: index + 12, as: UInt64.self)!
            if let transactionID {
                high ^= UInt64(cookie) << 32 | UInt64(transactionID.high)
                low ^= transactionID.low
            }
            address = .v6(IPv6Address(high: high, low: low))
        }
        if transactionID != nil {
            port ^= UInt16(truncatingIfNeeded: cookie >> 16)
        }
        return IPSocketAddress(address, port: port)
    }

    /// USERNAME, REALM, NONCE, SOFTWARE and the reason phrase of ERROR-CODE: UTF-8 of at most 763 bytes.
    ///
    /// RFC 8489 §14.3 (USERNAME):
    /// > A compliant implementation MUST be able to parse a UTF-8-encoded sequence of 763 or fewer octets to be
    /// > compatible with [RFC5389].
    ///
    /// The other texts are "fewer than 128 characters (which can be as long as [...] 763 bytes when decoding
    /// them)". Only the byte bound is enforced: counting characters buys nothing the byte bound does not.
    static func decodeText(
        type: UInt16,
        at index: Int,
        length: Int,
        in buffer: ByteBuffer
    ) throws(STUNDecodeError)
        -> String
    {
        guard length <= STUNConstants.maximumDecodedTextLength else {
            throw .malformedAttribute(type: type, length: length)
        }
        guard let text = String(validating: buffer.viewBytes(at: index, length: length)!, as: UTF8.self) else {
            throw .invalidUTF8(type: type)
        }
        return text
    }

    /// RFC 8489 §14.8:
    /// > ```
    /// >  0                   1                   2                   3
    /// >  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// > +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// > |           Reserved, should be 0         |Class|     Number    |
    /// > +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// > |      Reason Phrase (variable)                                ..
    /// > +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// > ```
    /// > The Reserved bits SHOULD be 0 and are for alignment on 32-bit boundaries. Receivers MUST ignore these
    /// > bits. The Class represents the hundreds digit of the error code. The value MUST be between 3 and 6. The
    /// > Number represents the binary encoding of the error code modulo 100, and its value MUST be between 0 and
    /// > 99.
    static func decodeErrorCode(
        at index: Int,
        length: Int,
        in buffer: ByteBuffer
    ) throws(STUNDecodeError)
        -> STUNErrorCode
    {
        let type = STUNConstants.AttributeType.errorCode
        guard length >= 4 else {
            throw .malformedAttribute(type: type, length: length)
        }
        let errorClass = buffer.getInteger(at: index + 2, as: UInt8.self)! & 0b111
        let number = buffer.getInteger(at: index + 3, as: UInt8.self)!
        guard STUNConstants.errorClasses.contains(errorClass), STUNConstants.errorNumbers.contains(number) else {
            throw .malformedAttribute(type: type, length: length)
        }
        let reason = try decodeText(type: type, at: index + 4, length: length - 4, in: buffer)
        return STUNErrorCode(code: UInt16(errorClass) * 100 + UInt16(number), reason: reason)
    }

    /// RFC 8656 §18.6:
    /// > Family: There are two values defined for this field and specified in Section 14.1 of [RFC8489]: 0x01 for
    /// > IPv4 addresses and 0x02 for IPv6 addresses.
    /// > Reserved: At this point, the 24 bits in the Reserved field MUST be set to zero by the client and MUST be
    /// > ignored by the server.
    static func decodeFamily(
        type: UInt16,
        at index: Int,
        length: Int,
        in buffer: ByteBuffer
    ) throws(STUNDecodeError)
        -> IPVersion
    {
        guard length == 4 else {
            throw .malformedAttribute(type: type, length: length)
        }
        let family = buffer.getInteger(at: index, as: UInt8.self)!
        guard let version = IPVersion(stunAddressFamily: family) else {
            throw .invalidAddressFamily(type: type, family: family)
        }
        return version
    }
}
