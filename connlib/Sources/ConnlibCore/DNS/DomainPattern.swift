/// The address of a DNS resource: a glob over DNS names such as `gitlab.corp`, `*.corp`, `**.corp` or `app?.corp`
/// (Firezone's rust/connlib/tunnel/src/dns.rs, module `pattern`, which matches with the `glob` crate after
/// replacing every `.` by `/`).
///
/// - `*` matches any run of characters inside one label, so a label that is just `*` matches exactly one label;
/// - `**` is a label of its own and matches any number of labels, none included: `**.corp` matches `corp`;
/// - `?` matches one character inside a label;
/// - matching ignores case (RFC 4343 §3);
/// - a pattern `*.x` also matches `x` itself.
///
/// Patterns order by specificity (`<` is more specific); among several patterns that match a name, the least one
/// decides which resource the name belongs to.
public struct DomainPattern: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The pattern in lower case, without a trailing dot.
    public let text: String
    private let elements: [Element]
    /// The literal name a leading `*.` also matches, as text: `x` for `*.x`.
    private let bareSuffix: String?

    private enum Element: Hashable, Sendable {
        /// `**`: any number of labels.
        case anyLabels
        /// One label, matched character by character with `*` and `?`.
        case label([UInt8])
    }

    public init(_ text: String) throws(DomainPatternError) {
        var bytes = Array(text.utf8).map(DomainName.lowercased)
        // A fully qualified pattern (`corp.`) means the same as `corp`; the glob would never match it.
        if bytes.last == UInt8(ascii: "."), bytes.count > 1 {
            bytes.removeLast()
        }
        guard !bytes.isEmpty else {
            throw .empty
        }
        guard bytes.count < DNSConstants.maximumNameLength else {
            throw .tooLong
        }
        var elements: [Element] = []
        for label in bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard !label.isEmpty else {
                throw .emptyLabel
            }
            for byte in label {
                // `[` and `]` are the glob crate's character classes; resource addresses never use them.
                guard DomainName.isLabelByte(byte), byte != UInt8(ascii: "["), byte != UInt8(ascii: "]") else {
                    throw .invalidCharacter(byte)
                }
            }
            if label.elementsEqual("**".utf8) {
                elements.append(.anyLabels)
            } else if zip(label, label.dropFirst()).contains(where: { $0 == UInt8(ascii: "*") && $1 == $0 }) {
                // The glob crate: recursive wildcards must form a single path component.
                throw .recursiveWildcardInsideLabel
            } else {
                elements.append(.label(Array(label)))
            }
        }
        let lowered = String(decoding: bytes, as: UTF8.self)
        self.text = lowered
        self.elements = elements
        // Firezone compares the rest of the pattern with the name literally, wildcards and all.
        self.bareSuffix = lowered.hasPrefix("*.") ? String(lowered.dropFirst(2)) : nil
    }

    public var description: String {
        self.text
    }

    /// Whether `name` matches the pattern.
    public func matches(_ name: DomainName) -> Bool {
        if let bareSuffix, name.description == bareSuffix {
            return true
        }
        return Self.match(self.elements, name.labels)
    }

    /// Whether `name` lies under the pattern: the check a gateway makes before it resolves a name a client asks for
    /// on behalf of a resource. It is the same relation as `matches`.
    public func contains(_ name: DomainName) -> Bool {
        self.matches(name)
    }

    /// Whether `lhs` is more specific than `rhs`: the one to pick when both match a name.
    public static func isMoreSpecific(_ lhs: DomainPattern, _ rhs: DomainPattern) -> Bool {
        lhs < rhs
    }

    /// Firezone's order of patterns (rust/connlib/tunnel/src/dns.rs, `impl Ord for Pattern`): compare the texts
    /// character by character from the right, so that the common suffix is skipped; a wildcard sorts after a
    /// literal character, `*` after `?`, and a shorter pattern before a longer one. `example.com` <
    /// `foo.example.com` < `?.example.com` < `*.example.com` < `**.example.com` < `*.com`.
    public static func < (lhs: DomainPattern, rhs: DomainPattern) -> Bool {
        self.compare(lhs.text, rhs.text) < 0
    }

    public static func == (lhs: DomainPattern, rhs: DomainPattern) -> Bool {
        lhs.text == rhs.text
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.text)
    }

    /// -1, 0 or 1 as `lhs` sorts before, with or after `rhs`.
    private static func compare(_ lhs: String, _ rhs: String) -> Int {
        let star = UInt8(ascii: "*")
        let question = UInt8(ascii: "?")
        let dot = UInt8(ascii: ".")
        func isWildcard(_ byte: UInt8?) -> Bool { byte == star || byte == question }

        var left = lhs.utf8.reversed().makeIterator()
        var right = rhs.utf8.reversed().makeIterator()
        while true {
            let l = left.next()
            let r = right.next()
            switch (l, r) {
            case (nil, nil):
                return 0
            case (let l?, let r?) where l == r:
                continue
            case (star, question):
                return 1
            case (question, star):
                return -1
            // A pattern that differs only by a wildcard where the other ends or has a dot comes later.
            case (let l, let r) where isWildcard(l) && (r == nil || r == dot):
                return 1
            case (let l, let r) where (l == nil || l == dot) && isWildcard(r):
                return -1
            // A wildcard comes after any literal character.
            case (let l, .some) where isWildcard(l):
                return 1
            case (.some, let r) where isWildcard(r):
                return -1
            // Literal characters compare lexically, reversed as the walk runs from the right.
            case (let l?, let r?):
                return l > r ? -1 : 1
            // The shorter pattern first.
            case (.some, nil):
                return 1
            case (nil, .some):
                return -1
            }
        }
    }

    /// Matches elements against labels: `**` takes any run of labels, every other element one label. Wildcard
    /// matching with a single backtrack point (the last `**` seen) is exact for this grammar and allocates nothing.
    private static func match(_ elements: [Element], _ labels: [String]) -> Bool {
        var element = 0
        var label = 0
        var lastAnyLabels: Int? = nil
        var labelAfterAnyLabels = 0
        while label < labels.count {
            if element < elements.count, case .label(let glob) = elements[element],
                Self.matchLabel(glob, labels[label].utf8)
            {
                element += 1
                label += 1
            } else if element < elements.count, case .anyLabels = elements[element] {
                lastAnyLabels = element
                labelAfterAnyLabels = label
                element += 1
            } else if let anyLabels = lastAnyLabels {
                // Let the last `**` take one more label and retry from there.
                element = anyLabels + 1
                labelAfterAnyLabels += 1
                label = labelAfterAnyLabels
            } else {
                return false
            }
        }
        while element < elements.count, case .anyLabels = elements[element] {
            element += 1
        }
        return element == elements.count
    }

    /// Matches one label against a glob of literal bytes, `*` (any run, none included) and `?` (one byte), with
    /// the same single-backtrack-point algorithm.
    private static func matchLabel(_ glob: [UInt8], _ label: String.UTF8View) -> Bool {
        let star = UInt8(ascii: "*")
        let question = UInt8(ascii: "?")
        var g = 0
        var n = label.startIndex
        var lastStar: Int? = nil
        var afterStar = label.startIndex
        while n < label.endIndex {
            if g < glob.count, glob[g] == question || (glob[g] != star && glob[g] == label[n]) {
                g += 1
                n = label.index(after: n)
            } else if g < glob.count, glob[g] == star {
                lastStar = g
                afterStar = n
                g += 1
            } else if let star = lastStar {
                g = star + 1
                afterStar = label.index(after: afterStar)
                n = afterStar
            } else {
                return false
            }
        }
        while g < glob.count, glob[g] == star {
            g += 1
        }
        return g == glob.count
    }
}

public enum DomainPatternError: Error, Hashable, Sendable {
    case empty
    case tooLong
    /// Two dots in a row or a leading dot.
    case emptyLabel
    /// A byte outside printable ASCII, or a character class bracket.
    case invalidCharacter(UInt8)
    /// `**` combined with other characters in one label (`a**.corp`): the glob crate rejects it too.
    case recursiveWildcardInsideLabel
}
