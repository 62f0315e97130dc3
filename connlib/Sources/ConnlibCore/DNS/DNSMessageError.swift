/// Why bytes are not a DNS message this codec accepts. Every malformed input ends in one of these; none traps.
public enum DNSMessageError: Error, Hashable, Sendable {
    /// Fewer than the 12 bytes of the header.
    case truncatedHeader
    /// A name, question or record runs past the end of the message.
    case truncated
    /// A label length byte with the reserved top bits `01` or `10` (RFC 1035 §4.1.4, RFC 6891 §5).
    case reservedLabelType(UInt8)
    /// A compression pointer that does not point strictly before the previous one (or before the name), or into
    /// the header: the only pointers that cannot loop.
    case invalidCompressionPointer(Int)
    /// More compression pointers in one name than a name could need.
    case tooManyCompressionPointers
    /// The name is not a valid `DomainName`.
    case invalidName(DomainNameError)
    /// A query (QR = 0) was expected and this is a response, or the reverse.
    case unexpectedDirection
    /// RFC 9619 §4: a query carries exactly one question; a response zero or one.
    case unsupportedQuestionCount(Int)
    /// A query that carries answer or authority records.
    case unexpectedRecordsInQuery
    /// An A or AAAA record whose data is not 4 or 16 bytes (RFC 1035 §3.4.1, RFC 3596 §2.2).
    case invalidAddressLength(Int)
    /// More than one OPT record, or one outside the additional section (RFC 6891 §6.1.1).
    case misplacedOPT
    /// Bytes after the last record.
    case trailingBytes(Int)
}
