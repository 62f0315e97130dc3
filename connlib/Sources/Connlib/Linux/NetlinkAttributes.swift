import CLinuxIO
import IPPacket

/// The attributes (`rtattr`) behind a netlink message's fixed header, read without copying. A truncated or
/// malformed attribute ends the walk: the kernel never sends one, and a reader must not trust lengths it did not
/// check (rtnetlink(7), `RTA_OK`).
package struct NetlinkAttributes: Sequence {
    package let bytes: UnsafeRawBufferPointer

    package init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    package struct Attribute {
        package var type: Int32
        package var payload: UnsafeRawBufferPointer

        /// The attribute's type without the `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` flag bits.
        package var kind: Int32 { self.type & ~Int32(NLA_F_NESTED | NLA_F_NET_BYTEORDER) }

        package var uint32: UInt32? {
            self.payload.count >= 4 ? self.payload.loadUnaligned(as: UInt32.self) : nil
        }

        var uint8: UInt8? {
            self.payload.count >= 1 ? self.payload[0] : nil
        }

        /// An address attribute (`RTA_DST`, `IFA_ADDRESS`, ...), in network byte order.
        var address: IPAddress? {
            switch self.payload.count {
            case 4:
                return .v4(IPv4Address(rawValue: UInt32(bigEndian: self.payload.loadUnaligned(as: UInt32.self))))
            case 16:
                let high = UInt64(bigEndian: self.payload.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
                let low = UInt64(bigEndian: self.payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                return .v6(IPv6Address(high: high, low: low))
            default:
                return nil
            }
        }

        /// A NUL-terminated string attribute (`IFLA_IFNAME`).
        var string: String? {
            guard let end = self.payload.firstIndex(of: 0) else { return nil }
            return String(decoding: self.payload[..<end], as: UTF8.self)
        }

        var nested: NetlinkAttributes { NetlinkAttributes(bytes: self.payload) }
    }

    package struct Iterator: IteratorProtocol {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        package mutating func next() -> Attribute? {
            let headerLength = NetlinkMessage.attributeHeaderLength
            guard self.offset + headerLength <= self.bytes.count else { return nil }
            let length = Int(self.bytes.loadUnaligned(fromByteOffset: self.offset, as: UInt16.self))
            let type = self.bytes.loadUnaligned(fromByteOffset: self.offset + 2, as: UInt16.self)
            guard length >= headerLength, self.offset + length <= self.bytes.count else { return nil }
            let payload = UnsafeRawBufferPointer(
                rebasing: self.bytes[(self.offset + headerLength)..<(self.offset + length)]
            )
            self.offset += (length + NetlinkMessage.alignment - 1) & ~(NetlinkMessage.alignment - 1)
            return Attribute(type: Int32(type), payload: payload)
        }
    }

    package func makeIterator() -> Iterator {
        Iterator(bytes: self.bytes)
    }

    func first(_ type: Int32) -> Attribute? {
        self.first { $0.kind == type }
    }
}
