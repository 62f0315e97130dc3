/// An IPv4 address, stored as the 32-bit number its four network-order bytes spell.
public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    @inlinable
    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    @inlinable
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    public static let any = IPv4Address(rawValue: 0)

    /// Parses dotted-quad notation: exactly four decimal octets, no leading zeros (which some parsers read as octal).
    public init?(_ text: some StringProtocol) {
        var value: UInt32 = 0
        var octets = 0
        for part in text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard octets < 4, let octet = Self.parseOctet(part) else {
                return nil
            }
            value = value << 8 | UInt32(octet)
            octets += 1
        }
        guard octets == 4 else {
            return nil
        }
        self.rawValue = value
    }

    private static func parseOctet(_ digits: some Collection<UInt8>) -> UInt8? {
        guard (1...3).contains(digits.count), digits.count == 1 || digits.first != UInt8(ascii: "0") else {
            return nil
        }
        var value = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else {
                return nil
            }
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
        }
        return UInt8(exactly: value)
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String {
        "\(self.rawValue >> 24).\(self.rawValue >> 16 & 0xFF).\(self.rawValue >> 8 & 0xFF).\(self.rawValue & 0xFF)"
    }
}
