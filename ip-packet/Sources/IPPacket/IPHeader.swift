import NIOCore

/// The fixed fields of an IPv4 or IPv6 header, read without validating the rest of the packet.
///
/// For code that only routes or frames packets: WireGuard picks a peer by destination and checks a source against
/// AllowedIPs, and cuts a decrypted packet from its padding by the length the header declares (the WireGuard
/// paper, §5.4.6). Only what the fields themselves need is checked: a known version, a whole fixed header, and an
/// IPv4 IHL within the bytes. Nothing is checked against the declared length, which may be shorter (padding) or
/// longer (truncation) than the bytes; ``IPPacket/init(_:)`` validates a whole packet.
public struct IPHeader: Hashable, Sendable {
    public let version: IPVersion
    /// The IPv4 header length (IHL × 4, options included), or IPv6's 40-byte fixed header: extension headers are
    /// not followed.
    public let headerLength: Int
    /// The packet length the header declares: IPv4's total length, or 40 plus IPv6's payload length.
    public let totalLength: Int
    /// IPv4's protocol, or IPv6's next header, which may name an extension header.
    public let ipProtocol: IPProtocol
    public let source: IPAddress
    public let destination: IPAddress

    /// Reads the header at the start of `buffer`'s readable bytes.
    public init(_ buffer: ByteBuffer) throws(IPPacketError) {
        self = try buffer.withUnsafeReadableBytes { Self.read($0) }.get()
    }

    /// Reads the header at the start of `bytes`.
    public init(bytes: UnsafeRawBufferPointer) throws(IPPacketError) {
        self = try Self.read(bytes).get()
    }

    private static func read(_ bytes: UnsafeRawBufferPointer) -> Result<IPHeader, IPPacketError> {
        guard let first = bytes.first else {
            return .failure(IPPacketError(.empty))
        }
        switch first >> 4 {
        case IPVersion.v4.rawValue:
            guard bytes.count >= IPPacketConstants.ipv4MinimumHeaderLength else {
                return .failure(IPPacketError(.truncatedIPHeader(version: .v4, length: bytes.count)))
            }
            let words = first & 0x0F
            let headerLength = Int(words) * 4
            guard headerLength >= IPPacketConstants.ipv4MinimumHeaderLength, headerLength <= bytes.count else {
                return .failure(IPPacketError(.invalidIPv4HeaderLength(words: words)))
            }
            return .success(
                IPHeader(
                    version: .v4,
                    headerLength: headerLength,
                    totalLength: Int(bytes.bigEndian(at: IPPacketConstants.ipv4TotalLengthOffset, as: UInt16.self)),
                    ipProtocol: IPProtocol(rawValue: bytes[IPPacketConstants.ipv4ProtocolOffset]),
                    source: .v4(bytes.ipv4Address(at: IPPacketConstants.ipv4SourceOffset)),
                    destination: .v4(bytes.ipv4Address(at: IPPacketConstants.ipv4DestinationOffset))
                )
            )
        case IPVersion.v6.rawValue:
            guard bytes.count >= IPPacketConstants.ipv6HeaderLength else {
                return .failure(IPPacketError(.truncatedIPHeader(version: .v6, length: bytes.count)))
            }
            let payloadLength = Int(bytes.bigEndian(at: IPPacketConstants.ipv6PayloadLengthOffset, as: UInt16.self))
            return .success(
                IPHeader(
                    version: .v6,
                    headerLength: IPPacketConstants.ipv6HeaderLength,
                    totalLength: IPPacketConstants.ipv6HeaderLength + payloadLength,
                    ipProtocol: IPProtocol(rawValue: bytes[IPPacketConstants.ipv6NextHeaderOffset]),
                    source: .v6(bytes.ipv6Address(at: IPPacketConstants.ipv6SourceOffset)),
                    destination: .v6(bytes.ipv6Address(at: IPPacketConstants.ipv6DestinationOffset))
                )
            )
        case let versionNibble:
            return .failure(IPPacketError(.unsupportedVersion(versionNibble)))
        }
    }

    private init(
        version: IPVersion,
        headerLength: Int,
        totalLength: Int,
        ipProtocol: IPProtocol,
        source: IPAddress,
        destination: IPAddress
    ) {
        self.version = version
        self.headerLength = headerLength
        self.totalLength = totalLength
        self.ipProtocol = ipProtocol
        self.source = source
        self.destination = destination
    }
}
