import NIOCore

/// Splits a TCP byte stream into DNS messages: RFC 1035 §4.2.2 prefixes each message with its length in two
/// bytes, and RFC 7766 §6.2.2 lets a client pipeline several queries, so one read may hold part of a message, one
/// message or several.
public struct DNSTCPFramer: Sendable {
    private var pending = ByteBuffer()

    public init() {}

    /// The bytes received and not yet returned as messages.
    public var bufferedBytes: Int {
        self.pending.readableBytes
    }

    /// The length prefix of the next message once its two bytes arrived, so that a reader can refuse a message
    /// longer than it accepts before buffering it.
    public var nextMessageLength: Int? {
        self.pending.getInteger(at: self.pending.readerIndex, as: UInt16.self).map(Int.init)
    }

    /// Adds bytes read from the stream.
    public mutating func append(_ bytes: ByteBuffer) {
        var bytes = bytes
        if self.pending.readableBytes == 0 {
            self.pending.clear()
        }
        self.pending.writeBuffer(&bytes)
    }

    /// The next whole message, or nil until more bytes arrive. A zero length prefix is an error: no message is
    /// empty (its header alone has 12 bytes), so the stream is garbage and the connection should be closed.
    public mutating func nextMessage() throws(DNSTCPFramingError) -> ByteBuffer? {
        guard let length = self.pending.getInteger(at: self.pending.readerIndex, as: UInt16.self) else {
            return nil
        }
        guard length > 0 else {
            throw .emptyMessage
        }
        guard self.pending.readableBytes >= DNSConstants.tcpLengthPrefixLength + Int(length) else {
            return nil
        }
        self.pending.moveReaderIndex(forwardBy: DNSConstants.tcpLengthPrefixLength)
        let message = self.pending.readSlice(length: Int(length))
        if self.pending.readerIndex > 65_536 {
            self.pending.discardReadBytes()
        }
        return message
    }

    /// `message` with its two-byte length prefix, ready to write to the stream.
    public static func frame(_ message: ByteBuffer) throws(DNSTCPFramingError) -> ByteBuffer {
        guard let length = UInt16(exactly: message.readableBytes) else {
            throw .messageTooLong(message.readableBytes)
        }
        var message = message
        var framed = ByteBuffer()
        framed.reserveCapacity(DNSConstants.tcpLengthPrefixLength + message.readableBytes)
        framed.writeInteger(length)
        framed.writeBuffer(&message)
        return framed
    }
}

public enum DNSTCPFramingError: Error, Hashable, Sendable {
    case emptyMessage
    /// A message longer than the 65,535 bytes a length prefix can say.
    case messageTooLong(Int)
}
