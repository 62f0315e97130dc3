/// A TURN channel number (RFC 8656 §12: 0x4000 through 0x7FFF).
public struct ChannelNumber: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt16

    @inlinable
    public init(_ value: UInt16) {
        self.value = value
    }

    public static func < (lhs: ChannelNumber, rhs: ChannelNumber) -> Bool { lhs.value < rhs.value }
    public var description: String { "0x" + String(self.value, radix: 16) }
}
