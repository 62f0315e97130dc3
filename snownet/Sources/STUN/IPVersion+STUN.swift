import IPPacket

extension IPVersion {
    /// The version an address family byte names.
    ///
    /// RFC 8489 §14.1:
    /// > The address family can take on the following values:
    /// > 0x01:IPv4
    /// > 0x02:IPv6
    @inlinable
    init?(stunAddressFamily family: UInt8) {
        switch family {
        case STUNConstants.addressFamilyIPv4: self = .v4
        case STUNConstants.addressFamilyIPv6: self = .v6
        default: return nil
        }
    }

    @inlinable
    var stunAddressFamily: UInt8 {
        switch self {
        case .v4: STUNConstants.addressFamilyIPv4
        case .v6: STUNConstants.addressFamilyIPv6
        }
    }
}
