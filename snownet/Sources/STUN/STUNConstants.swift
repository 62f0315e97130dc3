import FirezoneCrypto

/// Sizes, code points and limits of STUN (RFC 8489) and TURN (RFC 8656), named after the specifications that fix
/// them.
public enum STUNConstants {
    // MARK: Specification

    /// RFC 8489 §5:
    /// > All STUN messages comprise a 20-byte header followed by zero or more attributes.
    public static let headerLength = 20
    /// RFC 8489 §5:
    /// > The Magic Cookie field MUST contain the fixed value 0x2112A442 in network byte order.
    public static let magicCookie: UInt32 = 0x2112_A442
    /// RFC 8489 §5:
    /// > The transaction ID is a 96-bit identifier
    public static let transactionIDLength = 12
    /// RFC 8489 §5:
    /// > The most significant 2 bits of every STUN message MUST be zeroes.
    public static let messageTypeReservedBits: UInt16 = 0xC000
    /// RFC 8489 §14: type and length, each 16 bits, before the value.
    public static let attributeHeaderLength = 4
    /// RFC 8489 §14:
    /// > Each STUN attribute MUST end on a 32-bit boundary.
    public static let attributeAlignment = 4
    /// RFC 8489 §14:
    /// > Attributes with type values between 0x0000 and 0x7FFF are comprehension-required attributes
    public static let comprehensionRequiredAttributes: ClosedRange<UInt16> = 0x0000...0x7FFF
    /// RFC 8489 §14.5: HMAC-SHA1 is 20 bytes.
    public static let messageIntegrityLength = 20
    /// RFC 8489 §14.7: a CRC-32, four bytes.
    public static let fingerprintLength = 4
    /// RFC 8489 §14.7:
    /// > The value of the attribute is computed as the CRC-32 of the STUN message up to (but excluding) the
    /// > FINGERPRINT attribute itself, XOR'ed with the 32-bit value 0x5354554e.
    public static let fingerprintXOR: UInt32 = 0x5354_554E
    /// RFC 8489 §14.1: the address families of MAPPED-ADDRESS and everything encoded like it.
    public static let addressFamilyIPv4: UInt8 = 0x01
    public static let addressFamilyIPv6: UInt8 = 0x02
    /// RFC 8489 §14.8:
    /// > The Class MUST be between 3 and 6.
    public static let errorClasses: ClosedRange<UInt8> = 3...6
    /// RFC 8489 §14.8:
    /// > its value MUST be between 0 and 99.
    public static let errorNumbers: ClosedRange<UInt8> = 0...99
    /// RFC 8489 §14.3, §14.8, §14.9, §14.10, §14.14: text attributes are "fewer than 128 characters (which can be
    /// as long as 509 bytes when encoding them and as long as 763 bytes when decoding them)", and
    /// > A compliant implementation MUST be able to parse a UTF-8-encoded sequence of 763 or fewer octets
    public static let maximumDecodedTextLength = 763
    /// RFC 8656 §12.4: channel number and length, each 16 bits.
    public static let channelDataHeaderLength = 4
    /// RFC 8656 §18.8:
    /// > This specification only allows the use of code point 17 (User Datagram Protocol).
    public static let requestedTransportUDP: UInt8 = 17

    /// Attribute types: RFC 8489 §18.3, RFC 8656 §18, RFC 8445 §16.1.
    public enum AttributeType {
        // RFC 8489 §18.3, comprehension-required.
        public static let mappedAddress: UInt16 = 0x0001
        public static let username: UInt16 = 0x0006
        public static let messageIntegrity: UInt16 = 0x0008
        public static let errorCode: UInt16 = 0x0009
        public static let unknownAttributes: UInt16 = 0x000A
        public static let realm: UInt16 = 0x0014
        public static let nonce: UInt16 = 0x0015
        public static let messageIntegritySHA256: UInt16 = 0x001C
        public static let passwordAlgorithm: UInt16 = 0x001D
        public static let userhash: UInt16 = 0x001E
        public static let xorMappedAddress: UInt16 = 0x0020
        // RFC 8489 §18.3, comprehension-optional.
        public static let passwordAlgorithms: UInt16 = 0x8002
        public static let alternateDomain: UInt16 = 0x8003
        public static let software: UInt16 = 0x8022
        public static let alternateServer: UInt16 = 0x8023
        public static let fingerprint: UInt16 = 0x8028

        // RFC 8656 §18, comprehension-required.
        public static let channelNumber: UInt16 = 0x000C
        public static let lifetime: UInt16 = 0x000D
        public static let xorPeerAddress: UInt16 = 0x0012
        public static let data: UInt16 = 0x0013
        public static let xorRelayedAddress: UInt16 = 0x0016
        public static let requestedAddressFamily: UInt16 = 0x0017
        public static let evenPort: UInt16 = 0x0018
        public static let requestedTransport: UInt16 = 0x0019
        public static let dontFragment: UInt16 = 0x001A
        public static let reservationToken: UInt16 = 0x0022
        // RFC 8656 §18, comprehension-optional.
        public static let additionalAddressFamily: UInt16 = 0x8000
        public static let addressErrorCode: UInt16 = 0x8001
        public static let icmp: UInt16 = 0x8004

        // RFC 8445 §16.1.
        public static let priority: UInt16 = 0x0024
        public static let useCandidate: UInt16 = 0x0025
        public static let iceControlled: UInt16 = 0x8029
        public static let iceControlling: UInt16 = 0x802A
    }

    // MARK: Implementation

    /// The channel numbers a ChannelData message may carry, as Firezone's relay and its XDP router accept them:
    /// RFC 5766 §11's 0x4000 through 0x7FFF. RFC 8656 §12.2 narrowed binding to 0x4000 through 0x4FFF (and
    /// §12.6 discards 0x5000 and up), which is what Firezone's clients use (``firezoneClientChannelNumbers``).
    public static let channelNumbers: ClosedRange<UInt16> = 0x4000...0x7FFF
    /// The channel numbers Firezone's clients bind (rust/connlib/snownet/src/allocation.rs): RFC 8656 §12.2's
    /// range. Both snownet and the relay demultiplex only first bytes 0x40–0x4F as channel data.
    public static let firezoneClientChannelNumbers: ClosedRange<UInt16> = 0x4000...0x4FFF
}
