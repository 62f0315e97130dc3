/// Why text or an address and prefix length are not an ``IPNetwork``.
public enum IPNetworkError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No `/` and prefix length.
    case missingPrefixLength(String)
    /// The text before the `/` is not an IPv4 or IPv6 address.
    case invalidAddress(String)
    /// The text after the `/` is not one to three decimal digits of a number up to 255.
    case invalidPrefixLength(String)
    /// Longer than the address: 32 bits for IPv4, 128 for IPv6.
    case prefixLengthTooLong(UInt8, maximum: UInt8)
    /// The address has bits set after the prefix, so it is a host in a network, not the network.
    case hostBitsSet(address: IPAddress, prefixLength: UInt8)

    public var description: String {
        switch self {
        case .missingPrefixLength(let text): "'\(text)' has no /prefix-length"
        case .invalidAddress(let text): "'\(text)' is not an IP address"
        case .invalidPrefixLength(let text): "'\(text)' is not a prefix length"
        case .prefixLengthTooLong(let length, let maximum): "prefix length \(length) is longer than \(maximum)"
        case .hostBitsSet(let address, let length): "\(address)/\(length) has host bits set"
        }
    }
}
