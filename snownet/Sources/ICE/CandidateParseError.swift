/// Why an SDP candidate line was rejected. A signalled batch skips the one candidate, not the batch.
public enum CandidateParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The line does not start with `candidate:` (after an optional `a=`).
    case missingPrefix
    /// The line ends before the named field.
    case missingField(String)
    /// RFC 8839 §5.1: a foundation is 1 to 32 ice-chars (letters, digits, `+`, `/`).
    case invalidFoundation(String)
    /// Only component 1 exists in a Firezone session (RTP/RTCP multiplexed, one data stream).
    case unsupportedComponent(String)
    /// Only UDP candidates are used.
    case unsupportedTransport(String)
    /// The priority is not a number from 1 to 2^32 − 1.
    case invalidPriority(String)
    /// The connection address is not an IPv4 or IPv6 literal (FQDNs and mDNS names are not resolved here).
    case invalidAddress(String)
    /// The port is not a number from 1 to 65535.
    case invalidPort(String)
    /// The token after the port is not `typ`.
    case missingType(String)
    /// The candidate type is none of host, srflx, prflx, relay.
    case unknownType(String)

    public var description: String {
        switch self {
        case .missingPrefix: "candidate line does not start with 'candidate:'"
        case .missingField(let field): "candidate line ends before its \(field)"
        case .invalidFoundation(let text): "invalid foundation '\(text)': 1 to 32 letters, digits, '+' or '/'"
        case .unsupportedComponent(let text): "unsupported component '\(text)': only component 1 is used"
        case .unsupportedTransport(let text): "unsupported transport '\(text)': only udp is used"
        case .invalidPriority(let text): "invalid priority '\(text)': a number from 1 to 4294967295"
        case .invalidAddress(let text): "invalid address '\(text)': an IPv4 or IPv6 literal is required"
        case .invalidPort(let text): "invalid port '\(text)': a number from 1 to 65535"
        case .missingType(let text): "expected 'typ' after the port, found '\(text)'"
        case .unknownType(let text): "unknown candidate type '\(text)': host, srflx, prflx or relay"
        }
    }
}
