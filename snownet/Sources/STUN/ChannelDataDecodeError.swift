/// Why a datagram is not a ChannelData message we accept.
public enum ChannelDataDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the 4-byte header.
    case tooShort(length: Int)
    /// A channel number outside ``ChannelData/channelNumbers``.
    case invalidChannelNumber(UInt16)
    /// The length field claims more bytes than the datagram has after the header.
    case truncated(declared: Int, available: Int)

    public var description: String {
        switch self {
        case .tooShort(let length):
            "\(length) bytes are too short for a ChannelData header"
        case .invalidChannelNumber(let number):
            "channel number 0x\(String(number, radix: 16)) is outside 0x4000–0x7fff"
        case .truncated(let declared, let available):
            "ChannelData length \(declared) exceeds the \(available) bytes after the header"
        }
    }
}
