import NIOCore

/// A Firezone peer-to-peer control message (Firezone's connlib, rust/connlib/tunnel), carried inside WireGuard as an IPv6 packet from
/// `::` to `::` with next header 0xFF and hop limit 0. Such a packet must never be written to a TUN device.
///
/// Its payload is an 8-byte header, whose first byte is the event type and the rest zero, then the event's body.
public struct FZP2PControl: Sendable, Hashable {
    public static let headerLength = 8

    /// The events of the seed era.
    public struct EventType: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// Client → gateway: the proxy IPs a client assigned to a DNS resource's domain (JSON body).
        public static let assignedIPs = EventType(rawValue: 0)
        /// Gateway → client: whether the gateway set up NAT for those proxy IPs (JSON body).
        public static let domainStatus = EventType(rawValue: 1)
        /// Either side: the connection is being closed; the body is empty.
        public static let goodbye = EventType(rawValue: 2)
    }

    /// The 8-byte header.
    public var header: ByteBuffer
    public var body: ByteBuffer

    @inlinable
    public var eventType: EventType {
        EventType(rawValue: self.header.getInteger(at: self.header.readerIndex, as: UInt8.self)!)
    }
}

extension IPPacket {
    /// Whether this is a Firezone peer-to-peer control packet: IPv6 from `::` to `::` with next header 0xFF.
    @inlinable
    public var isFZP2PControl: Bool {
        self.version == .v6
            && self.ipProtocol == .firezoneP2PControl
            && self.source == .v6(.unspecified)
            && self.destination == .v6(.unspecified)
    }

    /// The control message, if this is a Firezone peer-to-peer control packet.
    ///
    /// `nil` too if its payload is shorter than the 8-byte header: construction rejects such a control packet, but
    /// rewriting both addresses of a short protocol-0xFF packet to `::` makes one.
    public var fzP2PControl: FZP2PControl? {
        guard self.isFZP2PControl, self.transportLength >= FZP2PControl.headerLength else {
            return nil
        }
        let segment = self.transportSegment
        return FZP2PControl(
            header: segment.getSlice(at: segment.readerIndex, length: FZP2PControl.headerLength)!,
            body: segment.getSlice(
                at: segment.readerIndex + FZP2PControl.headerLength,
                length: segment.readableBytes - FZP2PControl.headerLength
            )!
        )
    }
}
