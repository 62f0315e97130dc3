import IPPacket

/// The source address and port of a handshake message, as the cookie binds them (§5.4.7: `Mac(R_m, A_m)`): the
/// address's 4 or 16 bytes, then the port in network order, as wireguard-go writes them.
public struct CookieSource: Hashable, Sendable {
    var high: UInt64
    var low: UInt64
    var port: UInt16
    var isIPv4: Bool

    public init(ipv4 address: UInt32, port: UInt16) {
        self.high = UInt64(address)
        self.low = 0
        self.port = port
        self.isIPv4 = true
    }

    public init(ipv6High high: UInt64, low: UInt64, port: UInt16) {
        self.high = high
        self.low = low
        self.port = port
        self.isIPv4 = false
    }

    /// The cookie source of a datagram from `address`.
    public init(_ address: IPSocketAddress) {
        switch address.address {
        case .v4(let v4): self.init(ipv4: v4.rawValue, port: address.port)
        case .v6(let v6): self.init(ipv6High: v6.high, low: v6.low, port: address.port)
        }
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var raw: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return Swift.withUnsafeMutableBytes(of: &raw) { raw in
            if self.isIPv4 {
                raw.storeBytes(of: UInt32(truncatingIfNeeded: self.high).bigEndian, as: UInt32.self)
                raw.storeBytes(of: self.port.bigEndian, toByteOffset: 4, as: UInt16.self)
                return body(UnsafeRawBufferPointer(rebasing: raw[0..<6]))
            }
            raw.storeBytes(of: self.high.bigEndian, as: UInt64.self)
            raw.storeBytes(of: self.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: self.port.bigEndian, toByteOffset: 16, as: UInt16.self)
            return body(UnsafeRawBufferPointer(rebasing: raw[0..<18]))
        }
    }
}
