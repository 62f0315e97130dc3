import IPPacket
import NIOCore

extension STUNAttribute {
    /// Writes the attribute's value, unpadded; the encoder writes the type, length and padding around it.
    /// `transactionID` masks the XOR addresses (RFC 8489 §14.2).
    func writeValue(into buffer: inout ByteBuffer, transactionID: TransactionID) {
        switch self {
        case .mappedAddress(let address):
            Self.writeAddress(address, into: &buffer, xor: nil)
        case .xorMappedAddress(let address), .xorRelayedAddress(let address), .xorPeerAddress(let address):
            Self.writeAddress(address, into: &buffer, xor: transactionID)
        case .username(let text), .realm(let text), .nonce(let text), .software(let text):
            buffer.writeString(text)
        case .errorCode(let error):
            // RFC 8489 §14.8: 21 reserved bits, the class (hundreds digit) in 3 bits, the number (code modulo
            // 100) in 8 bits, then the reason phrase.
            precondition((300...699).contains(error.code), "STUN error codes are 300 through 699")
            buffer.writeInteger(UInt16(0))
            buffer.writeInteger(UInt8(error.code / 100))
            buffer.writeInteger(UInt8(error.code % 100))
            buffer.writeString(error.reason)
        case .lifetime(let seconds):
            buffer.writeInteger(seconds)
        case .channelNumber(let number):
            // RFC 8656 §18.1: the number, then a two-octet RFFU that "MUST be set to 0 on transmission".
            buffer.writeInteger(number)
            buffer.writeInteger(UInt16(0))
        case .requestedTransport(let protocolNumber):
            // RFC 8656 §18.8: the protocol, then 24 bits of RFFU set to zero.
            buffer.writeInteger(protocolNumber)
            buffer.writeRepeatingByte(0, count: 3)
        case .evenPort(let reserve):
            buffer.writeInteger(UInt8(reserve ? 0x80 : 0))
        case .reservationToken(let token):
            buffer.writeInteger(token)
        case .requestedAddressFamily(let version), .additionalAddressFamily(let version):
            // RFC 8656 §18.6: the family, then 24 reserved bits that "MUST be set to zero by the client".
            buffer.writeInteger(version.stunAddressFamily)
            buffer.writeRepeatingByte(0, count: 3)
        case .unknownAttributes(let types):
            for type in types {
                buffer.writeInteger(type)
            }
        case .priority(let priority):
            buffer.writeInteger(priority)
        case .useCandidate:
            break
        case .iceControlled(let tiebreaker), .iceControlling(let tiebreaker):
            buffer.writeInteger(tiebreaker)
        }
    }

    /// RFC 8489 §14.1 (and §14.2 when `transactionID` is given): a zero byte, the family, the port and the
    /// address, the port and address XOR'ed with the magic cookie (and, for IPv6, the transaction ID).
    static func writeAddress(
        _ socket: IPSocketAddress,
        into buffer: inout ByteBuffer,
        xor transactionID: TransactionID?
    ) {
        let cookie = STUNConstants.magicCookie
        let masked = transactionID != nil
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(socket.address.version.stunAddressFamily)
        buffer.writeInteger(masked ? socket.port ^ UInt16(truncatingIfNeeded: cookie >> 16) : socket.port)
        switch socket.address {
        case .v4(let address):
            buffer.writeInteger(masked ? address.rawValue ^ cookie : address.rawValue)
        case .v6(let address):
            if let transactionID {
                buffer.writeInteger(address.high ^ (UInt64(cookie) << 32 | UInt64(transactionID.high)))
                buffer.writeInteger(address.low ^ transactionID.low)
            } else {
                buffer.writeInteger(address.high)
                buffer.writeInteger(address.low)
            }
        }
    }
}
