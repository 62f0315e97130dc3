import IPPacket

/// An address block in CIDR notation (RFC 4632 §3.1) that the relay refuses to relay to, such as `10.0.0.0/8`
/// or `fd00::/8`: the relay core's own small representation until IPPacket offers a network type.
public struct PeerAddressRange: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    /// The block holding `address`, whose bits past `prefixLength` are ignored; nil if the length exceeds the
    /// family's.
    public init?(_ address: IPAddress, prefixLength: Int) {
        let bits = address.version == .v4 ? 32 : 128
        guard prefixLength >= 0, prefixLength <= bits else {
            return nil
        }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// `a.b.c.d/n` or `x::y/n`.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(parts[0]),
            let length = RelayCredentials.canonicalDecimal(Substring(parts[1])), length <= 128
        else {
            return nil
        }
        self.init(address, prefixLength: Int(length))
    }

    public func contains(_ candidate: IPAddress) -> Bool {
        switch (self.address, candidate) {
        case (.v4(let network), .v4(let address)):
            let mask: UInt32 = self.prefixLength == 0 ? 0 : ~0 << (32 - self.prefixLength)
            return network.rawValue & mask == address.rawValue & mask
        case (.v6(let network), .v6(let address)):
            let length = self.prefixLength
            let highMask: UInt64 = length == 0 ? 0 : length >= 64 ? ~0 : ~0 << (64 - length)
            let lowMask: UInt64 = length <= 64 ? 0 : ~0 << (128 - length)
            return network.high & highMask == address.high & highMask && network.low & lowMask == address.low & lowMask
        case (.v4, .v6), (.v6, .v4):
            return false
        }
    }

    public var description: String {
        "\(self.address)/\(self.prefixLength)"
    }

    /// Where no peer of a relay can be: RFC 6890's special-purpose blocks that are never a remote host. Private
    /// ranges (RFC 1918, RFC 4193) are not among them: gateways often sit beside the relay in one VPC.
    public static let neverPeers: [PeerAddressRange] = [
        "0.0.0.0/8",  // RFC 1122 §3.2.1.3: "this network", unspecified.
        "127.0.0.0/8",  // RFC 1122 §3.2.1.3: loopback.
        "169.254.0.0/16",  // RFC 3927: link-local, and cloud metadata services at 169.254.169.254.
        "224.0.0.0/4",  // RFC 5771: multicast.
        "255.255.255.255/32",  // RFC 919: limited broadcast.
        "::/128",  // RFC 4291 §2.5.2: unspecified.
        "::1/128",  // RFC 4291 §2.5.3: loopback.
        "::ffff:0:0/96",  // RFC 4291 §2.5.5.2: IPv4-mapped, which would reach IPv4 hosts past the IPv4 checks.
        "fe80::/10",  // RFC 4291 §2.5.6: link-local.
        "ff00::/8",  // RFC 4291 §2.7: multicast.
    ].map { PeerAddressRange($0)! }
}
