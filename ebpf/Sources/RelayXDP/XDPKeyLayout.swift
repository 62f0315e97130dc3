import IPPacket

/// How `relay_xdp.h` lays out keys and values (as Firezone's rust/relay/ebpf-shared/src/lib.rs): an address, then two
/// 16-bit fields, all in network byte order and without padding. The four key and value structs differ only in the
/// address family.
enum XDPKeyLayout {
    static func store(_ address: IPAddress, at offset: Int, into bytes: UnsafeMutableRawBufferPointer) {
        switch address {
        case .v4(let v4):
            bytes.storeBytes(of: v4.rawValue.bigEndian, toByteOffset: offset, as: UInt32.self)
        case .v6(let v6):
            bytes.storeBytes(of: v6.high.bigEndian, toByteOffset: offset, as: UInt64.self)
            bytes.storeBytes(of: v6.low.bigEndian, toByteOffset: offset + 8, as: UInt64.self)
        }
    }

    /// Fills a key or value of `T` (one of the four structs) with `address`, `first` and `second`.
    static func make<T>(_ empty: T, _ address: IPAddress, _ first: UInt16, _ second: UInt16) -> T {
        var value = empty
        let addressLength = address.version == .v4 ? 4 : 16
        withUnsafeMutableBytes(of: &value) { bytes in
            precondition(bytes.count == addressLength + 4, "\(T.self) does not match the address family")
            Self.store(address, at: 0, into: bytes)
            bytes.storeBytes(of: first.bigEndian, toByteOffset: addressLength, as: UInt16.self)
            bytes.storeBytes(of: second.bigEndian, toByteOffset: addressLength + 2, as: UInt16.self)
        }
        return value
    }
}
