/// RFC 3168 §5: the two ECN bits of the IPv4 TOS byte or the IPv6 traffic class.
public enum ECN: UInt8, Hashable, Sendable, CaseIterable {
    case notECT = 0b00
    case ect1 = 0b01
    case ect0 = 0b10
    case ce = 0b11

    /// RFC 6040 §4.2, normal mode: the inner header keeps its codepoint, except that congestion experienced on
    /// the outer header is copied into an ECN-capable inner header. A not-ECT inner packet is never marked.
    @inlinable
    public func decapsulated(outer: ECN) -> ECN {
        switch (self, outer) {
        case (.ect0, .ce), (.ect1, .ce): .ce
        default: self
        }
    }
}
