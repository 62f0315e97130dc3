import IPPacket

/// `fz_udp_bind` for an `IPAddress`: a non-blocking UDP socket bound to `address`:`port`, with the buffer sizes
/// asked for. Returns the descriptor or -errno.
public func bindUDP(_ address: IPAddress, port: UInt16, receiveBuffer: Int32, sendBuffer: Int32) -> Int32 {
    var bytes = [UInt8](repeating: 0, count: 16)
    switch address {
    case .v4(let address):
        withUnsafeBytes(of: address.rawValue.bigEndian) { bytes.replaceSubrange(0..<4, with: $0) }
    case .v6(let address):
        withUnsafeBytes(of: address.high.bigEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        withUnsafeBytes(of: address.low.bigEndian) { bytes.replaceSubrange(8..<16, with: $0) }
    }
    return fz_udp_bind(address.version == .v4 ? 4 : 6, bytes, port, receiveBuffer, sendBuffer)
}
