import NIOCore

/// The kind of a WireGuard message, told by its first four bytes and its length together.
public enum PacketType: UInt8, Sendable {
    case handshakeInitiation = 1
    case handshakeResponse = 2
    case cookieReply = 3
    case transportData = 4
}

/// What a datagram's fixed header says: its type, and the index it is addressed to (ours) or sent from.
///
/// Parsing checks the type and the exact length together (boringtun's `parse_incoming_packet`), so every later
/// field read is in bounds.
public struct PacketHeader: Hashable, Sendable {
    public var type: PacketType
    /// Our session index the message is addressed to; nil for an initiation, which names none.
    public var receiverIndex: SessionIndex?
    /// The sender's index (initiations and responses).
    public var senderIndex: UInt32?

    public init(parsing buffer: ByteBuffer) throws(WireGuardError) {
        let length = buffer.readableBytes
        guard length >= 4, let word = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self)
        else {
            throw .invalidMessage
        }
        // §5.4.2: "type := 1 (1 byte), reserved := 0^3 (3 bytes)"; wireguard-go reads these four bytes as one
        // little-endian word, so non-zero reserved bytes make an unknown type.
        guard word <= 0xFF, let type = PacketType(rawValue: UInt8(word)) else {
            throw .invalidMessage
        }
        let base = buffer.readerIndex
        func index(at offset: Int) -> UInt32 {
            buffer.getInteger(at: base + offset, endianness: .little, as: UInt32.self)!
        }
        self.type = type
        switch type {
        case .handshakeInitiation:
            guard length == WireGuardConstants.handshakeInitiationLength else {
                throw .invalidMessage
            }
            self.receiverIndex = nil
            self.senderIndex = index(at: WireGuardConstants.senderIndexOffset)
        case .handshakeResponse:
            guard length == WireGuardConstants.handshakeResponseLength else {
                throw .invalidMessage
            }
            self.senderIndex = index(at: WireGuardConstants.senderIndexOffset)
            self.receiverIndex = SessionIndex(rawValue: index(at: WireGuardConstants.responseReceiverIndexOffset))
        case .cookieReply:
            guard length == WireGuardConstants.cookieReplyLength else {
                throw .invalidMessage
            }
            self.senderIndex = nil
            self.receiverIndex = SessionIndex(rawValue: index(at: WireGuardConstants.cookieReceiverIndexOffset))
        case .transportData:
            guard length >= WireGuardConstants.transportOverhead else {
                throw .invalidMessage
            }
            self.senderIndex = nil
            self.receiverIndex = SessionIndex(rawValue: index(at: WireGuardConstants.transportReceiverIndexOffset))
        }
    }
}
