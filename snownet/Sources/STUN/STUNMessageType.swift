/// The method and class of a STUN message, and their interleaving into the 14-bit message type field.
///
/// RFC 8489 §5:
/// > ```
/// >                  0                 1
/// >                  2  3  4 5 6 7 8 9 0 1 2 3 4 5
/// >                 +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
/// >                 |M |M |M|M|M|C|M|M|M|C|M|M|M|M|
/// >                 |11|10|9|8|7|1|6|5|4|0|3|2|1|0|
/// >                 +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
/// > ```
/// > Here the bits in the message type field are shown as most significant (M11) through least significant (M0).
/// > M11 through M0 represent a 12-bit encoding of the method. C1 and C0 represent a 2-bit encoding of the class.
public struct STUNMessageType: Hashable, Sendable, CustomStringConvertible {
    public var method: STUNMethod
    public var `class`: STUNClass

    @inlinable
    public init(method: STUNMethod, class messageClass: STUNClass) {
        self.method = method
        self.class = messageClass
    }

    /// The type from the 16-bit field, or nil when either of the two most significant bits is set (then the bytes
    /// are not STUN, RFC 8489 §5).
    public init?(rawValue: UInt16) {
        guard rawValue & STUNConstants.messageTypeReservedBits == 0 else {
            return nil
        }
        let method = (rawValue & 0x000F) | (rawValue & 0x00E0) >> 1 | (rawValue & 0x3E00) >> 2
        let classBits = UInt8(truncatingIfNeeded: (rawValue & 0x0010) >> 4 | (rawValue & 0x0100) >> 7)
        self.method = STUNMethod(rawValue: method)
        self.class = STUNClass(rawValue: classBits)!
    }

    /// The 16-bit field as it goes on the wire.
    public var rawValue: UInt16 {
        let method = self.method.rawValue
        let classBits = UInt16(self.class.rawValue)
        return (method & 0x000F) | (method & 0x0070) << 1 | (method & 0x0F80) << 2
            | (classBits & 0b01) << 4 | (classBits & 0b10) << 7
    }

    public var description: String {
        "\(self.method) \(self.class)"
    }
}
