import CLinuxIO
import IPPacket

/// One netlink request built in a reusable buffer: the `nlmsghdr`, the family's fixed header, then attributes
/// (`rtattr`, possibly nested), each padded to 4 bytes (netlink(7), `NLMSG_ALIGN` and `RTA_ALIGN`).
///
/// Netlink's headers are in host byte order; addresses inside attributes are in network byte order.
struct NetlinkMessage {
    /// Netlink's alignment of headers and attributes (`NLMSG_ALIGNTO`, `RTA_ALIGNTO`).
    static let alignment = 4
    static let headerLength = MemoryLayout<nlmsghdr>.size
    static let attributeHeaderLength = MemoryLayout<rtattr>.size

    private(set) var bytes: [UInt8] = []

    init() {
        self.bytes.reserveCapacity(512)
    }

    /// Starts a new message, forgetting the previous one; the buffer keeps its capacity.
    mutating func begin(type: Int32, flags: Int32, sequence: UInt32) {
        self.bytes.removeAll(keepingCapacity: true)
        var header = nlmsghdr()
        header.nlmsg_type = UInt16(type)
        header.nlmsg_flags = UInt16(flags)
        header.nlmsg_seq = sequence
        self.appendAligned(header)
    }

    /// Appends the family's fixed header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`, `fib_rule_hdr`).
    mutating func append<Header>(fixed header: Header) {
        self.appendAligned(header)
    }

    mutating func append(attribute type: Int32, _ value: UInt32) {
        withUnsafeBytes(of: value) { self.append(attribute: type, bytes: $0) }
    }

    mutating func append(attribute type: Int32, _ value: UInt8) {
        withUnsafeBytes(of: value) { self.append(attribute: type, bytes: $0) }
    }

    mutating func append(attribute type: Int32, string: String) {
        var text = Array(string.utf8)
        text.append(0)
        text.withUnsafeBytes { self.append(attribute: type, bytes: $0) }
    }

    /// The address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    mutating func append(attribute type: Int32, address: IPAddress) {
        switch address {
        case .v4(let ipv4):
            withUnsafeBytes(of: ipv4.rawValue.bigEndian) { self.append(attribute: type, bytes: $0) }
        case .v6(let ipv6):
            withUnsafeBytes(of: (ipv6.high.bigEndian, ipv6.low.bigEndian)) { self.append(attribute: type, bytes: $0) }
        }
    }

    mutating func append(attribute type: Int32, bytes: UnsafeRawBufferPointer) {
        var header = rtattr()
        header.rta_len = UInt16(Self.attributeHeaderLength + bytes.count)
        header.rta_type = UInt16(type)
        withUnsafeBytes(of: header) { self.bytes.append(contentsOf: $0) }
        self.bytes.append(contentsOf: bytes)
        self.pad()
    }

    /// Opens a nested attribute (`NLA_F_NESTED` is not required by rtnetlink); ``endNested(_:)`` closes it.
    mutating func beginNested(attribute type: Int32) -> Int {
        let start = self.bytes.count
        var header = rtattr()
        header.rta_type = UInt16(type)
        withUnsafeBytes(of: header) { self.bytes.append(contentsOf: $0) }
        return start
    }

    mutating func endNested(_ start: Int) {
        let length = UInt16(self.bytes.count - start)
        withUnsafeBytes(of: length) { raw in
            self.bytes[start] = raw[0]
            self.bytes[start + 1] = raw[1]
        }
    }

    /// Writes the total length into the `nlmsghdr` (its first field); call before sending.
    mutating func finish() {
        let length = UInt32(self.bytes.count)
        withUnsafeBytes(of: length) { raw in
            for index in 0..<4 {
                self.bytes[index] = raw[index]
            }
        }
    }

    private mutating func appendAligned<Value>(_ value: Value) {
        withUnsafeBytes(of: value) { self.bytes.append(contentsOf: $0) }
        self.pad()
    }

    private mutating func pad() {
        while self.bytes.count % Self.alignment != 0 {
            self.bytes.append(0)
        }
    }
}
