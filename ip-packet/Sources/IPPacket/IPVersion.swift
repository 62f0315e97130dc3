/// The version nibble of an IP header.
public enum IPVersion: UInt8, Hashable, Sendable, CustomStringConvertible {
    case v4 = 4
    case v6 = 6

    public var description: String {
        switch self {
        case .v4: "v4"
        case .v6: "v6"
        }
    }
}
