import Glibc
import IPPacket

/// Which local address the kernel sends from toward a remote address, remembered per remote address and shared by
/// all of the tunnel's UDP sockets (Firezone's rust/connlib/socket-factory keeps the same cache).
///
/// The sockets are bound to the wildcard address, so a datagram does not say which local address it arrived on;
/// snownet learns its host candidates from the local address of its relays' traffic (Firezone #9998), so the shell
/// names it: the address a route lookup (connect(2) of a scratch UDP socket, which sends nothing, then
/// getsockname(2)) picks toward the sender. The answer only changes when the host's addresses or routes do, so it
/// is cached until ``reset()`` on a network change (roaming).
///
/// Every unseen sender costs a lookup before its datagram is even parsed, and senders are whoever can reach our
/// port, spoofed sources included: the cache is a fixed table (two-way set-associative, ``capacity`` entries), so a
/// flood of sources costs lookups and evicts, never memory. The tunnel's real peers are few (relays, gateways or
/// clients) and stay hot in their sets.
public struct SourceAddressCache {
    private struct Entry {
        var remote: IPAddress
        var local: IPAddress
    }

    /// Entries the table holds, a power of two.
    public let capacity: Int
    /// Two entries per set: `entries[2 * set]` and `entries[2 * set + 1]`.
    private var entries: [Entry?]
    /// Per set, the way that was used last (the other one is replaced on a miss).
    private var recentWay: [UInt8]
    /// Route lookups made, for tests and metrics.
    public private(set) var lookups = 0
    /// Answers dropped to make room for another sender's.
    public private(set) var evictions = 0
    /// Answers held now.
    public var count: Int {
        self.entries.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
    }

    /// 4096 entries: far more than a client or gateway has peers, 128 KiB at most.
    public static let defaultCapacity = 4096

    public init(capacity: Int = Self.defaultCapacity) {
        var size = 2
        while size < capacity {
            size <<= 1
        }
        self.capacity = size
        self.entries = Array(repeating: nil, count: size)
        self.recentWay = Array(repeating: 0, count: size / 2)
    }

    /// The local address toward `remote`; nil when no route leads there.
    public mutating func localAddress(toward remote: IPAddress) -> IPAddress? {
        let set = remote.hashValue & (self.capacity / 2 - 1)
        for way in 0..<2 {
            if let entry = self.entries[2 * set + way], entry.remote == remote {
                self.recentWay[set] = UInt8(way)
                return entry.local
            }
        }
        self.lookups += 1
        guard let local = Self.lookUp(remote) else {
            return nil
        }
        let way = self.entries[2 * set] == nil ? 0 : self.entries[2 * set + 1] == nil ? 1 : 1 - Int(self.recentWay[set])
        if self.entries[2 * set + way] != nil {
            self.evictions += 1
        }
        self.entries[2 * set + way] = Entry(remote: remote, local: local)
        self.recentWay[set] = UInt8(way)
        return local
    }

    /// Forgets every answer: the host's addresses or routes changed.
    public mutating func reset() {
        for index in self.entries.indices {
            self.entries[index] = nil
        }
    }

    /// Marked like the tunnel's sockets, so that on a client the lookup takes the route the tunnel's datagrams
    /// take (the main table), not the tunnel's own table. Best effort: without the mark the answer is the same
    /// wherever no policy rule applies.
    private static func mark(_ fd: Int32) {
        var mark = TunnelRouting.firewallMark
        _ = setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, socklen_t(MemoryLayout<UInt32>.size))
    }

    /// The route lookup itself.
    static func lookUp(_ remote: IPAddress) -> IPAddress? {
        switch remote {
        case .v4(let address):
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                return nil
            }
            defer { _ = close(fd) }
            Self.mark(fd)
            var peer = sockaddr_in()
            peer.sin_family = sa_family_t(AF_INET)
            peer.sin_port = UInt16(9).bigEndian
            peer.sin_addr.s_addr = address.rawValue.bigEndian
            let connected = withUnsafePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                return nil
            }
            var local = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard named == 0 else {
                return nil
            }
            return .v4(IPv4Address(rawValue: UInt32(bigEndian: local.sin_addr.s_addr)))
        case .v6(let address):
            let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                return nil
            }
            defer { _ = close(fd) }
            Self.mark(fd)
            var peer = sockaddr_in6()
            peer.sin6_family = sa_family_t(AF_INET6)
            peer.sin6_port = UInt16(9).bigEndian
            withUnsafeMutableBytes(of: &peer.sin6_addr) { raw in
                raw.storeBytes(of: address.high.bigEndian, as: UInt64.self)
                raw.storeBytes(of: address.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            let connected = withUnsafePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
            guard connected == 0 else {
                return nil
            }
            var local = sockaddr_in6()
            var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            let named = withUnsafeMutablePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard named == 0 else {
                return nil
            }
            return withUnsafeBytes(of: local.sin6_addr) { raw in
                .v6(
                    IPv6Address(
                        high: UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)),
                        low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                    )
                )
            }
        }
    }
}
