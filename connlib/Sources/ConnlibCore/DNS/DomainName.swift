/// A validated DNS name in lower case, for example `app.corp.example`: the question of a query, the domain of a
/// DNS resource's proxy addresses, the `domain` of the p2p control messages.
///
/// Names compare case-insensitively (RFC 4343 §3), so they are kept in lower case. Labels are 1 to 63 bytes and the
/// whole name at most 255 bytes on the wire (RFC 1035 §2.3.4). A label holds printable ASCII except the dot: that
/// admits the underscore of SRV names (`_sip._tcp.example.com`, RFC 2782) and a literal `*`, and keeps every name
/// printable and unambiguous as text. The root name has no labels and is written `.`.
public struct DomainName: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The labels from the leftmost (most specific) to the top-level domain, in lower case.
    public let labels: [String]

    /// Parses dotted text; one trailing dot (a fully qualified name) is accepted.
    public init(_ text: String) throws(DomainNameError) {
        var bytes = Array(text.utf8)
        if bytes.last == UInt8(ascii: ".") {
            bytes.removeLast()
            // `.` alone is the root name.
            if bytes.isEmpty {
                self.init(validatedLabels: [])
                return
            }
        }
        if bytes.isEmpty {
            throw .emptyLabel
        }
        var labels: [[UInt8]] = []
        for label in bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            labels.append(Array(label))
        }
        try self.init(wireLabels: labels)
    }

    /// Validates labels as they appear on the wire (RFC 1035 §3.1), without their length bytes.
    public init(wireLabels: [[UInt8]]) throws(DomainNameError) {
        var wireLength = 1
        var labels: [String] = []
        labels.reserveCapacity(wireLabels.count)
        for label in wireLabels {
            guard !label.isEmpty else {
                throw .emptyLabel
            }
            guard label.count <= DNSConstants.maximumLabelLength else {
                throw .labelTooLong(label.count)
            }
            wireLength += 1 + label.count
            guard wireLength <= DNSConstants.maximumNameLength else {
                throw .nameTooLong
            }
            for byte in label where !Self.isLabelByte(byte) {
                throw .invalidCharacter(byte)
            }
            labels.append(String(decoding: label.map(Self.lowercased), as: UTF8.self))
        }
        self.labels = labels
    }

    /// The root name, `.`.
    public static let root = DomainName(validatedLabels: [])

    init(validatedLabels: [String]) {
        self.labels = validatedLabels
    }

    public var isRoot: Bool {
        self.labels.isEmpty
    }

    /// The number of bytes the name takes on the wire without compression (RFC 1035 §3.1).
    public var wireLength: Int {
        self.labels.reduce(1) { $0 + 1 + $1.utf8.count }
    }

    /// The name without its trailing dot; the root name is `.`.
    public var description: String {
        self.isRoot ? "." : self.labels.joined(separator: ".")
    }

    public static func < (lhs: DomainName, rhs: DomainName) -> Bool {
        lhs.description < rhs.description
    }

    static func isLabelByte(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) && byte != UInt8(ascii: ".")
    }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }
}

public enum DomainNameError: Error, Hashable, Sendable {
    /// Two dots in a row, a leading dot, or nothing at all.
    case emptyLabel
    /// A label longer than 63 bytes.
    case labelTooLong(Int)
    /// More than 255 bytes on the wire.
    case nameTooLong
    /// A byte outside printable ASCII, or a dot inside a wire label.
    case invalidCharacter(UInt8)
}
