import IPPacket

/// The STUN and TURN attributes Firezone uses (its TURN client, rust/connlib/snownet/src/allocation.rs, and relay,
/// rust/relay/server/src/server.rs), plus the ICE attributes of RFC 8445 §16.1.
///
/// MESSAGE-INTEGRITY and FINGERPRINT are not attributes here: ``STUNMessageEncoder`` computes them and
/// ``STUNMessage`` checks them, because their values depend on the bytes around them.
///
/// Text values are as sent: no SASLprep or OpaqueString processing (Firezone's names and realm are ASCII).
public enum STUNAttribute: Hashable, Sendable {
    /// RFC 8489 §14.1.
    case mappedAddress(IPSocketAddress)
    /// RFC 8489 §14.2.
    case xorMappedAddress(IPSocketAddress)
    /// RFC 8656 §18.5.
    case xorRelayedAddress(IPSocketAddress)
    /// RFC 8656 §18.3.
    case xorPeerAddress(IPSocketAddress)
    /// RFC 8489 §14.3.
    case username(String)
    /// RFC 8489 §14.9.
    case realm(String)
    /// RFC 8489 §14.10.
    case nonce(String)
    /// RFC 8489 §14.14.
    case software(String)
    /// RFC 8489 §14.8.
    case errorCode(STUNErrorCode)
    /// RFC 8656 §18.2: seconds.
    case lifetime(UInt32)
    /// RFC 8656 §18.1.
    case channelNumber(UInt16)
    /// RFC 8656 §18.8: an IP protocol number; only 17 (UDP) is defined.
    case requestedTransport(UInt8)
    /// RFC 8656 §18.5: an even relay port, and with `reserve` the next port held for a later allocation.
    case evenPort(reserve: Bool)
    /// RFC 8656 §18.9: the token of a port held by an earlier EVEN-PORT allocation.
    case reservationToken(UInt64)
    /// RFC 8656 §18.6.
    case requestedAddressFamily(IPVersion)
    /// RFC 8656 §18.11.
    case additionalAddressFamily(IPVersion)
    /// RFC 8489 §14.13.
    case unknownAttributes([UInt16])
    /// RFC 8445 §16.1.
    case priority(UInt32)
    /// RFC 8445 §16.1.
    case useCandidate
    /// RFC 8445 §16.1: the agent's tie-breaker.
    case iceControlled(UInt64)
    /// RFC 8445 §16.1: the agent's tie-breaker.
    case iceControlling(UInt64)

    /// The attribute type on the wire (``STUNConstants/AttributeType``).
    public var type: UInt16 {
        switch self {
        case .mappedAddress: STUNConstants.AttributeType.mappedAddress
        case .xorMappedAddress: STUNConstants.AttributeType.xorMappedAddress
        case .xorRelayedAddress: STUNConstants.AttributeType.xorRelayedAddress
        case .xorPeerAddress: STUNConstants.AttributeType.xorPeerAddress
        case .username: STUNConstants.AttributeType.username
        case .realm: STUNConstants.AttributeType.realm
        case .nonce: STUNConstants.AttributeType.nonce
        case .software: STUNConstants.AttributeType.software
        case .errorCode: STUNConstants.AttributeType.errorCode
        case .lifetime: STUNConstants.AttributeType.lifetime
        case .channelNumber: STUNConstants.AttributeType.channelNumber
        case .requestedTransport: STUNConstants.AttributeType.requestedTransport
        case .evenPort: STUNConstants.AttributeType.evenPort
        case .reservationToken: STUNConstants.AttributeType.reservationToken
        case .requestedAddressFamily: STUNConstants.AttributeType.requestedAddressFamily
        case .additionalAddressFamily: STUNConstants.AttributeType.additionalAddressFamily
        case .unknownAttributes: STUNConstants.AttributeType.unknownAttributes
        case .priority: STUNConstants.AttributeType.priority
        case .useCandidate: STUNConstants.AttributeType.useCandidate
        case .iceControlled: STUNConstants.AttributeType.iceControlled
        case .iceControlling: STUNConstants.AttributeType.iceControlling
        }
    }
}
