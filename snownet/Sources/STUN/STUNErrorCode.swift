/// The value of an ERROR-CODE attribute: a code from 300 to 699 and a reason phrase.
///
/// RFC 8489 §14.8:
/// > It contains a numeric error code value in the range of 300 to 699 plus a textual reason phrase encoded in
/// > UTF-8 [...] The reason phrase is meant for diagnostic purposes and can be anything appropriate for the error
/// > code.
///
/// Equality compares both fields; compare `code` alone to classify a response.
public struct STUNErrorCode: Hashable, Sendable, CustomStringConvertible {
    public var code: UInt16
    public var reason: String

    /// The code must be encodable: RFC 8489 §14.8's class 3–6 and number 0–99, so 300 through 699.
    public init(code: UInt16, reason: String) {
        precondition((300...699).contains(code), "STUN error codes are 300 through 699")
        self.code = code
        self.reason = reason
    }

    // RFC 8489 §14.8 (the phrases of its IANA registry, §18.4).
    public static let tryAlternate = STUNErrorCode(code: 300, reason: "Try Alternate")
    public static let badRequest = STUNErrorCode(code: 400, reason: "Bad Request")
    /// RFC 8489 §14.8 renamed the phrase "Unauthenticated"; RFC 5389, RFC 8656's own example (§20) and Firezone's
    /// relay say "Unauthorized", which is what Firezone's clients have always seen. Receivers ignore the phrase.
    public static let unauthorized = STUNErrorCode(code: 401, reason: "Unauthorized")
    public static let unknownAttribute = STUNErrorCode(code: 420, reason: "Unknown Attribute")
    public static let staleNonce = STUNErrorCode(code: 438, reason: "Stale Nonce")
    public static let serverError = STUNErrorCode(code: 500, reason: "Server Error")

    // RFC 8656 §19.
    public static let forbidden = STUNErrorCode(code: 403, reason: "Forbidden")
    public static let allocationMismatch = STUNErrorCode(code: 437, reason: "Allocation Mismatch")
    public static let addressFamilyNotSupported = STUNErrorCode(code: 440, reason: "Address Family not Supported")
    public static let wrongCredentials = STUNErrorCode(code: 441, reason: "Wrong Credentials")
    public static let unsupportedTransportProtocol = STUNErrorCode(code: 442, reason: "Unsupported Transport Protocol")
    public static let peerAddressFamilyMismatch = STUNErrorCode(code: 443, reason: "Peer Address Family Mismatch")
    public static let allocationQuotaReached = STUNErrorCode(code: 486, reason: "Allocation Quota Reached")
    public static let insufficientCapacity = STUNErrorCode(code: 508, reason: "Insufficient Capacity")

    public var description: String {
        "\(self.code) \(self.reason)"
    }
}
