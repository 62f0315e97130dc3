import NIOCore

/// The 20-byte header of a STUN message, validated on its own.
///
/// RFC 8489 §5:
/// > ```
/// >  0                   1                   2                   3
/// >  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// > +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// > |0 0|     STUN Message Type     |         Message Length        |
/// > +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// > |                         Magic Cookie                          |
/// > +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// > |                                                               |
/// > |                     Transaction ID (96 bits)                  |
/// > |                                                               |
/// > +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// > ```
///
/// A server reads it when ``STUNMessage`` rejects a datagram's attributes, to answer the request with 400.
public struct STUNMessageHeader: Hashable, Sendable {
    public var type: STUNMessageType
    /// The message length field: the bytes after the header.
    public var length: Int
    public var transactionID: TransactionID

    /// Validates the header at the start of `buffer`'s readable bytes: its size, the two zero bits, the magic
    /// cookie and a message length that is a multiple of 4. What follows the header is not looked at.
    public init(decoding buffer: ByteBuffer) throws(STUNDecodeError) {
        let base = buffer.readerIndex
        guard buffer.readableBytes >= STUNConstants.headerLength else {
            throw .tooShort(length: buffer.readableBytes)
        }
        let rawType = buffer.getInteger(at: base, as: UInt16.self)!
        guard let type = STUNMessageType(rawValue: rawType) else {
            throw .notSTUN(firstByte: UInt8(truncatingIfNeeded: rawType >> 8))
        }
        let cookie = buffer.getInteger(at: base + 4, as: UInt32.self)!
        guard cookie == STUNConstants.magicCookie else {
            throw .badMagicCookie(cookie)
        }
        // RFC 8489 §5:
        // > Since all STUN attributes are padded to a multiple of 4 bytes, the last 2 bits of this field are
        // > always zero.
        let length = Int(buffer.getInteger(at: base + 2, as: UInt16.self)!)
        guard length % STUNConstants.attributeAlignment == 0 else {
            throw .unalignedLength(length)
        }
        self.type = type
        self.length = length
        self.transactionID = buffer.getTransactionID(at: base + 8)!
    }
}
