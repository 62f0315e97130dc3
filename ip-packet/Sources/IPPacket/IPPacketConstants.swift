/// Sizes and protocol numbers of the IP layer, named after the specifications that fix them.
public enum IPPacketConstants {
    // MARK: Specification

    /// RFC 791 §3.1: the minimum IPv4 header, IHL = 5 words.
    public static let ipv4MinimumHeaderLength = 20
    /// RFC 791 §3.1: where the fields of the IPv4 header start.
    public static let ipv4TotalLengthOffset = 2
    public static let ipv4ProtocolOffset = 9
    public static let ipv4HeaderChecksumOffset = 10
    public static let ipv4SourceOffset = 12
    public static let ipv4DestinationOffset = 16
    /// RFC 8200 §3: where the fields of the IPv6 header start.
    public static let ipv6PayloadLengthOffset = 4
    public static let ipv6NextHeaderOffset = 6
    public static let ipv6SourceOffset = 8
    public static let ipv6DestinationOffset = 24
    /// RFC 8200 §3: the fixed IPv6 header.
    public static let ipv6HeaderLength = 40
    /// RFC 768: source port, destination port, length, checksum.
    public static let udpHeaderLength = 8
    /// RFC 9293 §3.1: the minimum TCP header, data offset = 5 words.
    public static let tcpMinimumHeaderLength = 20
    /// RFC 792 / RFC 4443: type, code, checksum and four bytes of message-specific data.
    public static let icmpHeaderLength = 8
    /// RFC 792: a destination unreachable or time exceeded message carries the internet header plus the
    /// first 64 bits of the original datagram's data.
    public static let icmpv4ErrorOriginalDataLength = 8

    // MARK: Implementation

    /// The TUN MTU of Firezone, and so the largest IP packet any component accepts.
    public static let maximumPacketLength = 1280
    /// The largest IP payload: the MTU less the largest IPv4 header.
    public static let maximumIPPayloadLength = maximumPacketLength - 60
    /// The largest UDP payload inside a tunnel packet.
    public static let maximumUDPPayloadLength = maximumIPPayloadLength - udpHeaderLength
    /// WireGuard's transport header (16) and authentication tag (16).
    public static let wireGuardOverhead = 32
    /// The TURN ChannelData header: channel number and length.
    public static let dataChannelOverhead = 4
    /// A tunnel packet once encrypted and framed for a relay: 1280 + 32 + 4.
    public static let maximumFirezonePayloadLength = maximumPacketLength + wireGuardOverhead + dataChannelOverhead
    /// The TTL / hop limit of ICMP errors that Firezone generates (Firezone's connlib, rust/connlib/tunnel).
    public static let generatedICMPErrorHopLimit: UInt8 = 20
    /// The TTL / hop limit of packets built without an explicit one.
    public static let defaultHopLimit: UInt8 = 64
    /// IPv6 extension headers followed before the packet is rejected, so a crafted chain cannot cost more.
    public static let maximumIPv6ExtensionHeaders = 8
}
