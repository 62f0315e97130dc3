/// The class of a STUN message.
///
/// RFC 8489 §5:
/// > A class of 0b00 is a request, a class of 0b01 is an indication, a class of 0b10 is a success response, and a
/// > class of 0b11 is an error response.
public enum STUNClass: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case request = 0b00
    case indication = 0b01
    case successResponse = 0b10
    case errorResponse = 0b11

    public var description: String {
        switch self {
        case .request: "request"
        case .indication: "indication"
        case .successResponse: "success response"
        case .errorResponse: "error response"
        }
    }
}
