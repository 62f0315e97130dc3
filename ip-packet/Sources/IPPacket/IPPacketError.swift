import NIOCore

/// Why bytes are not an IP packet we accept, or why a rewrite cannot apply, with what could be read of the packet.
///
/// The context (addresses, protocol and the first bytes of the transport header) is what made parse errors
/// diagnosable in Firezone (Firezone #10337). It holds a slice of the packet, not a copy. Addresses are
/// personal data: log the context at debug level at most.
public struct IPPacketError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        case empty
        case tooLong(length: Int)
        case unsupportedVersion(UInt8)
        case truncatedIPHeader(version: IPVersion, length: Int)
        case invalidIPv4HeaderLength(words: UInt8)
        case totalLengthMismatch(declared: Int, actual: Int)
        case payloadLengthMismatch(declared: Int, actual: Int)
        case fragmented
        case truncatedExtensionHeader(IPProtocol)
        case tooManyExtensionHeaders
        case truncatedTransportHeader(IPProtocol, length: Int)
        case udpLengthMismatch(declared: Int, actual: Int)
        case invalidTCPDataOffset(words: UInt8, segmentLength: Int)
        case icmpVersionMismatch(IPProtocol, IPVersion)
        case truncatedP2PControlHeader(length: Int)
        /// A port or ICMP identifier was asked of a packet that has none (not TCP, UDP or an ICMP echo).
        case noPortOrIdentifier(IPProtocol)
        /// A packet to build would exceed the maximum packet length.
        case payloadTooLong(length: Int)
        /// The packet quoted by an ICMP error is not of the IP version of the packet carrying it.
        case embeddedVersionMismatch(UInt8)
        /// The packet quoted by an ICMP error is too short for its IP header.
        case truncatedEmbeddedHeader(length: Int)
    }

    public var reason: Reason
    public var source: IPAddress?
    public var destination: IPAddress?
    public var ipProtocol: IPProtocol?
    /// Up to the first 20 bytes at the start of the transport header.
    public var transportHeader: ByteBuffer?

    @inlinable
    public init(
        _ reason: Reason,
        source: IPAddress? = nil,
        destination: IPAddress? = nil,
        ipProtocol: IPProtocol? = nil,
        transportHeader: ByteBuffer? = nil
    ) {
        self.reason = reason
        self.source = source
        self.destination = destination
        self.ipProtocol = ipProtocol
        self.transportHeader = transportHeader
    }

    public var description: String {
        var context: [String] = []
        if let source = self.source {
            context.append("src \(source)")
        }
        if let destination = self.destination {
            context.append("dst \(destination)")
        }
        if let ipProtocol = self.ipProtocol {
            context.append("\(ipProtocol)")
        }
        if let header = self.transportHeader {
            let hex = header.readableBytesView.map { byte in
                (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
            context.append("transport header \(hex.joined())")
        }
        let suffix = context.isEmpty ? "" : " (\(context.joined(separator: ", ")))"
        return self.reasonDescription + suffix
    }

    private var reasonDescription: String {
        switch self.reason {
        case .empty:
            "empty packet"
        case .tooLong(let length):
            "packet of \(length) bytes exceeds the maximum of \(IPPacketConstants.maximumPacketLength)"
        case .unsupportedVersion(let version):
            "unsupported IP version \(version)"
        case .truncatedIPHeader(let version, let length):
            "\(length) bytes are too short for an IP\(version) header"
        case .invalidIPv4HeaderLength(let words):
            "invalid IPv4 header length of \(words) words"
        case .totalLengthMismatch(let declared, let actual):
            "IPv4 total length \(declared) does not match the packet length \(actual)"
        case .payloadLengthMismatch(let declared, let actual):
            "IPv6 payload length \(declared) does not match the payload of \(actual) bytes"
        case .fragmented:
            "fragmented packets are not supported"
        case .truncatedExtensionHeader(let header):
            "truncated IPv6 extension header (\(header))"
        case .tooManyExtensionHeaders:
            "more than \(IPPacketConstants.maximumIPv6ExtensionHeaders) IPv6 extension headers"
        case .truncatedTransportHeader(let ipProtocol, let length):
            "\(length) bytes are too short for a \(ipProtocol) header"
        case .udpLengthMismatch(let declared, let actual):
            "UDP length \(declared) does not match the segment length \(actual)"
        case .invalidTCPDataOffset(let words, let segmentLength):
            "invalid TCP data offset of \(words) words in a segment of \(segmentLength) bytes"
        case .icmpVersionMismatch(let ipProtocol, let version):
            "\(ipProtocol) is not allowed in IP\(version)"
        case .truncatedP2PControlHeader(let length):
            "Firezone control packet of \(length) bytes is shorter than its 8-byte header"
        case .noPortOrIdentifier(let ipProtocol):
            "\(ipProtocol) packet has no port or ICMP echo identifier"
        case .embeddedVersionMismatch(let version):
            "ICMP error quotes an IP packet of version \(version)"
        case .truncatedEmbeddedHeader(let length):
            "ICMP error quotes \(length) bytes, too few for an IP header"
        case .payloadTooLong(let length):
            "payload of \(length) bytes does not fit a packet of at most \(IPPacketConstants.maximumPacketLength)"
        }
    }
}
