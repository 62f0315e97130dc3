import NIOCore

/// A TURN ChannelData message: application data to or from the peer bound to a channel.
///
/// RFC 8656 §12.4:
/// > ```
/// >  0                   1                   2                   3
/// >  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// > +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// > |         Channel Number        |            Length             |
/// > +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// > |                                                               |
/// > /                       Application Data                        /
/// > /                                                               /
/// > |                                                               |
/// > |                               +-------------------------------+
/// > |                               |
/// > +-------------------------------+
/// > ```
/// > The Length field specifies the length in bytes of the application data field (i.e., it does not include the
/// > size of the ChannelData header). Note that 0 is a valid length.
///
/// This is the relay's per-packet path: decoding validates two fields and slices the payload out of the datagram
/// without copying or allocating; the header is written into headroom in front of a payload.
public struct ChannelData: Hashable, Sendable {
    /// RFC 8656 §12.4: channel number and length, each 16 bits.
    public static let headerLength = STUNConstants.channelDataHeaderLength
    /// The channel numbers accepted on decode (``STUNConstants/channelNumbers``, 0x4000–0x7FFF, as Firezone's
    /// relay and XDP router accept); Firezone's clients bind only 0x4000–0x4FFF
    /// (``STUNConstants/firezoneClientChannelNumbers``).
    public static let channelNumbers = STUNConstants.channelNumbers

    public var channelNumber: UInt16
    /// The application data: exactly `Length` bytes, a slice of the datagram it was decoded from.
    public var payload: ByteBuffer

    @inlinable
    public init(channelNumber: UInt16, payload: ByteBuffer) {
        self.channelNumber = channelNumber
        self.payload = payload
    }

    /// Decodes `buffer`'s readable bytes as one ChannelData message.
    ///
    /// Bytes after the payload are ignored: RFC 8656 §12.5 lets UDP senders pad ("Over UDP, the padding is not required
    /// but MAY be included"), and Firezone's relay accepts any trailing bytes
    /// (rust/relay/server/src/server/channel_data.rs). A datagram shorter than the declared length is rejected.
    @inlinable
    public init(decoding buffer: ByteBuffer) throws(ChannelDataDecodeError) {
        guard buffer.readableBytes >= Self.headerLength else {
            throw .tooShort(length: buffer.readableBytes)
        }
        let base = buffer.readerIndex
        let channelNumber = buffer.getInteger(at: base, as: UInt16.self)!
        guard Self.channelNumbers.contains(channelNumber) else {
            throw .invalidChannelNumber(channelNumber)
        }
        // RFC 8656 §12.6:
        // > If the ChannelData message is received in a UDP datagram, and if the UDP datagram is too short to
        // > contain the claimed length of the ChannelData message [...], then the message is silently discarded.
        let length = Int(buffer.getInteger(at: base + 2, as: UInt16.self)!)
        let available = buffer.readableBytes - Self.headerLength
        guard length <= available else {
            throw .truncated(declared: length, available: available)
        }
        self.channelNumber = channelNumber
        self.payload = buffer.getSlice(at: base + Self.headerLength, length: length)!
    }

    /// Prepends the header to `buffer`'s readable bytes (the payload), in the headroom before its reader index:
    /// afterwards the readable bytes are the whole ChannelData message. The buffer must have
    /// ``headerLength`` bytes of headroom.
    @inlinable
    public static func prependHeader(channelNumber: UInt16, to buffer: inout ByteBuffer) {
        precondition(buffer.readerIndex >= Self.headerLength, "no headroom for the ChannelData header")
        let length = buffer.readableBytes
        precondition(length <= Int(UInt16.max), "ChannelData carries at most 65535 bytes")
        buffer.moveReaderIndex(to: buffer.readerIndex - Self.headerLength)
        // One plain 4-byte store, on every relayed packet: `setInteger` copies its bytes with `memmove`.
        let header = UInt32(channelNumber) << 16 | UInt32(truncatingIfNeeded: length)
        buffer.withUnsafeMutableReadableBytes { $0.storeBytes(of: header.bigEndian, as: UInt32.self) }
    }

    /// Writes the message, header and payload, at `buffer`'s writer index; no padding: Firezone's XDP router drops
    /// ChannelData whose length is not exactly the datagram's (rust/relay/ebpf-turn-router/src/try_handle_turn).
    @inlinable
    public func write(into buffer: inout ByteBuffer) {
        precondition(self.payload.readableBytes <= Int(UInt16.max), "ChannelData carries at most 65535 bytes")
        buffer.writeInteger(self.channelNumber)
        buffer.writeInteger(UInt16(truncatingIfNeeded: self.payload.readableBytes))
        buffer.writeImmutableBuffer(self.payload)
    }
}
