/// An IPv6 address, stored as two 64-bit numbers spelled by its network-order bytes.
public struct IPv6Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// An address from its eight 16-bit groups, most significant first.
    public init(groups: [UInt16]) {
        precondition(groups.count == 8, "an IPv6 address has eight groups")
        self.high = groups[0..<4].reduce(0) { $0 << 16 | UInt64($1) }
        self.low = groups[4..<8].reduce(0) { $0 << 16 | UInt64($1) }
    }

    /// `::`, the unspecified address.
    public static let unspecified = IPv6Address(high: 0, low: 0)

    /// The group at `index` (0 is the most significant).
    @inlinable
    public func group(_ index: Int) -> UInt16 {
        let half = index < 4 ? self.high : self.low
        return UInt16(truncatingIfNeeded: half >> (UInt64(3 - index % 4) * 16))
    }

    /// The IPv4 address of an IPv4-mapped address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2).
    public var ipv4Mapped: IPv4Address? {
        guard self.high == 0, self.low >> 32 == 0xFFFF else {
            return nil
        }
        return IPv4Address(rawValue: UInt32(truncatingIfNeeded: self.low))
    }

    /// Parses the text forms of RFC 4291 §2.2: eight groups, `::` for a run of zero groups, and a trailing
    /// dotted-quad IPv4 address in place of the last two groups. Zone identifiers are not addresses.
    public init?(_ text: some StringProtocol) {
        let text = Substring(text)
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false

        let halves = text.split(separator: "::", maxSplits: 1, omittingEmptySubsequences: false)
        guard let firstHalf = halves.first else {
            return nil
        }
        if halves.count == 2 {
            sawDoubleColon = true
            guard !halves[1].contains("::") else {
                return nil
            }
        }
        guard let parsedHead = Self.parseGroups(firstHalf, allowsIPv4Suffix: !sawDoubleColon) else {
            return nil
        }
        head = parsedHead
        if sawDoubleColon {
            guard let parsedTail = Self.parseGroups(halves[1], allowsIPv4Suffix: true) else {
                return nil
            }
            tail = parsedTail
        }

        let explicit = head.count + tail.count
        if sawDoubleColon {
            // RFC 4291 §2.2: "::" indicates one or more groups of 16 bits of zeros.
            guard explicit <= 7 else {
                return nil
            }
            self.init(groups: head + Array(repeating: 0, count: 8 - explicit) + tail)
        } else {
            guard explicit == 8 else {
                return nil
            }
            self.init(groups: head)
        }
    }

    /// Colon-separated hex groups, possibly ending in a dotted quad; an empty string is no groups.
    private static func parseGroups(_ text: Substring, allowsIPv4Suffix: Bool) -> [UInt16]? {
        if text.isEmpty {
            return []
        }
        var groups: [UInt16] = []
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        for (index, part) in parts.enumerated() {
            if index == parts.count - 1, allowsIPv4Suffix, part.contains(".") {
                guard let ipv4 = IPv4Address(part) else {
                    return nil
                }
                groups.append(UInt16(truncatingIfNeeded: ipv4.rawValue >> 16))
                groups.append(UInt16(truncatingIfNeeded: ipv4.rawValue))
                continue
            }
            guard (1...4).contains(part.utf8.count), let group = UInt16(part, radix: 16) else {
                return nil
            }
            groups.append(group)
        }
        return groups
    }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// RFC 5952 §4: lower-case hex without leading zeros, the longest run of two or more zero groups
    /// (the first of equal runs) shortened to `::`, and IPv4-mapped addresses with a dotted quad.
    public var description: String {
        if let ipv4 = self.ipv4Mapped {
            return "::ffff:\(ipv4)"
        }
        var bestStart = -1
        var bestLength = 1
        var runStart = -1
        for index in 0...8 {
            if index < 8, self.group(index) == 0 {
                if runStart < 0 {
                    runStart = index
                }
            } else if runStart >= 0 {
                if index - runStart > bestLength {
                    bestStart = runStart
                    bestLength = index - runStart
                }
                runStart = -1
            }
        }

        var text = ""
        var index = 0
        while index < 8 {
            if index == bestStart {
                text += "::"
                index += bestLength
                continue
            }
            if !text.isEmpty, !text.hasSuffix(":") {
                text += ":"
            }
            text += String(self.group(index), radix: 16)
            index += 1
        }
        return text
    }
}
