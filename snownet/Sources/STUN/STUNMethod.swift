/// A STUN method: the 12-bit number that, with a ``STUNClass``, makes a ``STUNMessageType``.
///
/// A struct rather than an enum because a peer may send any method; the relay answers unknown request methods
/// with 400, as Firezone's relay does (rust/relay/server/src/server/client_message.rs), so decoding keeps them.
public struct STUNMethod: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    /// RFC 8489 §5:
    /// > M11 through M0 represent a 12-bit encoding of the method.
    public static let maximumRawValue: UInt16 = 0x0FFF

    @inlinable
    public init(rawValue: UInt16) {
        precondition(rawValue <= Self.maximumRawValue, "a STUN method has 12 bits")
        self.rawValue = rawValue
    }

    /// RFC 8489 §18.2.
    public static let binding = STUNMethod(rawValue: 0x001)
    /// RFC 8656 §17.
    public static let allocate = STUNMethod(rawValue: 0x003)
    public static let refresh = STUNMethod(rawValue: 0x004)
    public static let send = STUNMethod(rawValue: 0x006)
    public static let data = STUNMethod(rawValue: 0x007)
    public static let createPermission = STUNMethod(rawValue: 0x008)
    public static let channelBind = STUNMethod(rawValue: 0x009)

    public static func < (lhs: STUNMethod, rhs: STUNMethod) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String {
        switch self {
        case .binding: "BINDING"
        case .allocate: "ALLOCATE"
        case .refresh: "REFRESH"
        case .send: "SEND"
        case .data: "DATA"
        case .createPermission: "CREATE-PERMISSION"
        case .channelBind: "CHANNEL-BIND"
        default: "0x" + String(self.rawValue, radix: 16)
        }
    }
}
