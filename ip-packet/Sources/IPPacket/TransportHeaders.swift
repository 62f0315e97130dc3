import NIOCore

/// A read-only view of a validated UDP header (RFC 768).
public struct UDPHeader: Sendable, Hashable {
    /// The UDP segment: header and payload.
    public var segment: ByteBuffer

    @inlinable
    public init(segment: ByteBuffer) {
        precondition(segment.readableBytes >= IPPacketConstants.udpHeaderLength, "a UDP header has 8 bytes")
        self.segment = segment
    }

    @inlinable public var sourcePort: UInt16 { self.segment.getInteger(at: self.segment.readerIndex, as: UInt16.self)! }
    @inlinable public var destinationPort: UInt16 {
        self.segment.getInteger(at: self.segment.readerIndex + 2, as: UInt16.self)!
    }
    @inlinable public var length: UInt16 { self.segment.getInteger(at: self.segment.readerIndex + 4, as: UInt16.self)! }
    @inlinable public var checksum: UInt16 {
        self.segment.getInteger(at: self.segment.readerIndex + 6, as: UInt16.self)!
    }
}

/// The control bits of a TCP header (RFC 9293 §3.1).
public struct TCPFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8

    @inlinable
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
    public static let urg = TCPFlags(rawValue: 0x20)
    public static let ece = TCPFlags(rawValue: 0x40)
    public static let cwr = TCPFlags(rawValue: 0x80)
}

/// A read-only view of a validated TCP header (RFC 9293 §3.1).
public struct TCPHeader: Sendable, Hashable {
    /// The TCP segment: header, options and payload.
    public var segment: ByteBuffer

    @inlinable
    public init(segment: ByteBuffer) {
        precondition(segment.readableBytes >= IPPacketConstants.tcpMinimumHeaderLength, "a TCP header has 20 bytes")
        self.segment = segment
    }

    @inlinable
    func field<T: FixedWidthInteger>(at offset: Int, as: T.Type = T.self) -> T {
        self.segment.getInteger(at: self.segment.readerIndex + offset, as: T.self)!
    }

    @inlinable public var sourcePort: UInt16 { self.field(at: 0) }
    @inlinable public var destinationPort: UInt16 { self.field(at: 2) }
    @inlinable public var sequenceNumber: UInt32 { self.field(at: 4) }
    @inlinable public var acknowledgmentNumber: UInt32 { self.field(at: 8) }
    /// The header length in bytes, options included: the data offset times four.
    @inlinable public var headerLength: Int { Int(self.field(at: 12, as: UInt8.self) >> 4) * 4 }
    @inlinable public var flags: TCPFlags { TCPFlags(rawValue: self.field(at: 13)) }
    @inlinable public var window: UInt16 { self.field(at: 14) }
    @inlinable public var checksum: UInt16 { self.field(at: 16) }
    @inlinable public var urgentPointer: UInt16 { self.field(at: 18) }

    /// The options between the fixed header and the payload.
    @inlinable
    public var options: ByteBuffer {
        self.segment.getSlice(
            at: self.segment.readerIndex + IPPacketConstants.tcpMinimumHeaderLength,
            length: self.headerLength - IPPacketConstants.tcpMinimumHeaderLength
        )!
    }
}

/// A read-only view of the first eight bytes of a validated ICMP (RFC 792) or ICMPv6 (RFC 4443) message.
public struct ICMPHeader: Sendable, Hashable {
    public var version: IPVersion
    /// The ICMP message: header and body.
    public var segment: ByteBuffer

    // MARK: Specification

    /// RFC 792: echo reply and echo request.
    public static let v4EchoReply: UInt8 = 0
    public static let v4EchoRequest: UInt8 = 8
    public static let v4DestinationUnreachable: UInt8 = 3
    public static let v4TimeExceeded: UInt8 = 11
    /// RFC 4443 §4.1 and §4.2.
    public static let v6EchoRequest: UInt8 = 128
    public static let v6EchoReply: UInt8 = 129
    /// RFC 4443 §3.
    public static let v6DestinationUnreachable: UInt8 = 1
    public static let v6PacketTooBig: UInt8 = 2
    public static let v6TimeExceeded: UInt8 = 3

    @inlinable
    public init(version: IPVersion, segment: ByteBuffer) {
        precondition(segment.readableBytes >= IPPacketConstants.icmpHeaderLength, "an ICMP header has 8 bytes")
        self.version = version
        self.segment = segment
    }

    @inlinable public var type: UInt8 { self.segment.getInteger(at: self.segment.readerIndex, as: UInt8.self)! }
    @inlinable public var code: UInt8 { self.segment.getInteger(at: self.segment.readerIndex + 1, as: UInt8.self)! }
    @inlinable public var checksum: UInt16 {
        self.segment.getInteger(at: self.segment.readerIndex + 2, as: UInt16.self)!
    }
    /// Bytes 4 and 5: the identifier of an echo request or reply.
    @inlinable public var identifier: UInt16 {
        self.segment.getInteger(at: self.segment.readerIndex + 4, as: UInt16.self)!
    }
    /// Bytes 6 and 7: the sequence number of an echo request or reply.
    @inlinable public var sequenceNumber: UInt16 {
        self.segment.getInteger(at: self.segment.readerIndex + 6, as: UInt16.self)!
    }
    /// Bytes 4 to 7, whose meaning depends on the type (the MTU of a packet-too-big message, for example).
    @inlinable public var restOfHeader: UInt32 {
        self.segment.getInteger(at: self.segment.readerIndex + 4, as: UInt32.self)!
    }

    @inlinable
    public var isEchoRequest: Bool {
        self.type == (self.version == .v4 ? Self.v4EchoRequest : Self.v6EchoRequest)
    }

    @inlinable
    public var isEchoReply: Bool {
        self.type == (self.version == .v4 ? Self.v4EchoReply : Self.v6EchoReply)
    }

    @inlinable
    public var isEcho: Bool {
        self.isEchoRequest || self.isEchoReply
    }
}
