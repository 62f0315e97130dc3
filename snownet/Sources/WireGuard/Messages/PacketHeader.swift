import NIOCore

/// The kind of a WireGuard message, told by its first four bytes and its length together.
public enum PacketType: UInt8, Sendable {
    case handshakeInitiation = 1
    case handshakeResponse = 2
    case cookieReply = 3
    case transportData = 4

    /// §5.4.2: "type := 1 (1 byte), reserved := 0^3 (3 bytes)", written as one little-endian word.
    var word: UInt32 {
        UInt32(self.rawValue).littleEndian
    }
}

/// What a datagram's fixed header says: its type, and the indices that type carries.
///
/// Parsing checks the type and the exact length together (boringtun's `parse_incoming_packet`), so every later
/// field read is in bounds.
public enum PacketHeader: Hashable, Sendable {
    /// §5.4.2: names no index of ours; the tunnel is found by the initiator's static key.
    case handshakeInitiation(senderIndex: UInt32)
    /// §5.4.3: answers our initiation sent from `receiverIndex`.
    case handshakeResponse(senderIndex: UInt32, receiverIndex: SessionIndex)
    /// §5.4.7: answers our handshake message sent from `receiverIndex`.
    case cookieReply(receiverIndex: SessionIndex)
    /// §5.4.6: data (or a keepalive) on our session `receiverIndex`.
    case transportData(receiverIndex: SessionIndex)

    public init(parsing buffer: ByteBuffer) throws(WireGuardError) {
        // One access to the bytes for the type and the index (each ByteBuffer read checks exclusivity at run time).
        let header = buffer.withUnsafeReadableBytes { Self(parsing: $0) }
        guard let header else {
            throw .invalidMessage
        }
        self = header
    }

    private init?(parsing bytes: UnsafeRawBufferPointer) {
        let length = bytes.count
        guard length >= 4 else {
            return nil
        }
        func index(at offset: Int) -> UInt32 {
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }
        // wireguard-go reads the type and reserved bytes as one little-endian word, so non-zero reserved bytes make
        // an unknown type.
        let word = index(at: 0)
        guard word <= 0xFF, let type = PacketType(rawValue: UInt8(word)) else {
            return nil
        }
        switch type {
        case .handshakeInitiation:
            guard length == WireGuardConstants.handshakeInitiationLength else {
                return nil
            }
            self = .handshakeInitiation(senderIndex: index(at: WireGuardConstants.senderIndexOffset))
        case .handshakeResponse:
            guard length == WireGuardConstants.handshakeResponseLength else {
                return nil
            }
            self = .handshakeResponse(
                senderIndex: index(at: WireGuardConstants.senderIndexOffset),
                receiverIndex: SessionIndex(rawValue: index(at: WireGuardConstants.responseReceiverIndexOffset))
            )
        case .cookieReply:
            guard length == WireGuardConstants.cookieReplyLength else {
                return nil
            }
            self = .cookieReply(
                receiverIndex: SessionIndex(rawValue: index(at: WireGuardConstants.cookieReceiverIndexOffset))
            )
        case .transportData:
            guard length >= WireGuardConstants.transportOverhead else {
                return nil
            }
            self = .transportData(
                receiverIndex: SessionIndex(rawValue: index(at: WireGuardConstants.transportReceiverIndexOffset))
            )
        }
    }

    /// Whether the message is a handshake initiation or response: the messages with MACs, which the handshake rate
    /// limiter judges (§5.4.7).
    public var isHandshake: Bool {
        switch self {
        case .handshakeInitiation, .handshakeResponse: true
        case .cookieReply, .transportData: false
        }
    }

    public var type: PacketType {
        switch self {
        case .handshakeInitiation: .handshakeInitiation
        case .handshakeResponse: .handshakeResponse
        case .cookieReply: .cookieReply
        case .transportData: .transportData
        }
    }

    /// Our session index the message is addressed to; nil for an initiation, which names none.
    public var receiverIndex: SessionIndex? {
        switch self {
        case .handshakeInitiation: nil
        case .handshakeResponse(_, let receiverIndex), .cookieReply(let receiverIndex),
            .transportData(let receiverIndex):
            receiverIndex
        }
    }
}
