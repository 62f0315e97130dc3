import Glibc
import IPPacket
import NIOCore

/// A DNS server on 127.0.0.1 for the tests, UDP and TCP on one port, served from the test's own thread: ``serve()``
/// answers what has arrived, so a test interleaves it with the client without threads.
final class LoopbackDNSServer {
    /// What the server does with a query.
    enum Behaviour {
        /// Answers with the query's header (QR set), its question and `padding` bytes.
        case answer(padding: Int)
        /// Over UDP: the header with TC set and no more; over TCP: the answer with `padding` bytes.
        case truncateOverUDP(padding: Int)
        /// Sends a response with another ID first, then the answer.
        case wrongIDFirst
        /// Sends 5 bytes.
        case malformed
        /// Never answers.
        case silent
    }

    var behaviour: Behaviour
    private(set) var udpQueries: [(query: [UInt8], from: UInt16)] = []
    private(set) var tcpQueries: [[UInt8]] = []
    let address: IPSocketAddress
    private let udp: Int32
    private let listener: Int32
    private var connections: [(fd: Int32, received: [UInt8])] = []

    init(behaviour: Behaviour) throws {
        self.behaviour = behaviour
        let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue | SOCK_NONBLOCK.rawValue), 0)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(udp, pointer, length) == 0 && getsockname(udp, pointer, &length) == 0
                    && bind(listener, pointer, length) == 0 && listen(listener, 8) == 0
            }
        }
        guard bound else {
            let error = errno
            close(udp)
            close(listener)
            throw LoopbackDNSServerError(errno: error)
        }
        self.udp = udp
        self.listener = listener
        self.address = IPSocketAddress(
            .v4(IPv4Address(rawValue: 0x7f00_0001)),
            port: UInt16(bigEndian: address.sin_port)
        )
    }

    deinit {
        close(self.udp)
        close(self.listener)
        for connection in self.connections {
            close(connection.fd)
        }
    }

    /// The descriptors ``serve()`` reads, for poll(2).
    var descriptors: [Int32] {
        [self.udp, self.listener] + self.connections.map(\.fd)
    }

    /// Answers every query that has arrived.
    func serve() {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            var from = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let received = withUnsafeMutablePointer(to: &from) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(self.udp, &buffer, buffer.count, 0, $0, &length)
                }
            }
            guard received > 0 else {
                break
            }
            let query = Array(buffer[0..<received])
            self.udpQueries.append((query, UInt16(bigEndian: from.sin_port)))
            for reply in self.replies(to: query, overTCP: false) {
                _ = withUnsafePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(self.udp, reply, reply.count, 0, $0, length)
                    }
                }
            }
        }
        while case let fd = accept(self.listener, nil, nil), fd >= 0 {
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
            self.connections.append((fd, []))
        }
        for index in self.connections.indices {
            while true {
                let received = recv(self.connections[index].fd, &buffer, buffer.count, 0)
                guard received > 0 else {
                    break
                }
                self.connections[index].received += buffer[0..<received]
            }
            let pending = self.connections[index].received
            guard pending.count >= 2 else {
                continue
            }
            let length = Int(pending[0]) << 8 | Int(pending[1])
            guard pending.count >= 2 + length else {
                continue
            }
            let query = Array(pending[2..<2 + length])
            self.connections[index].received.removeFirst(2 + length)
            self.tcpQueries.append(query)
            for reply in self.replies(to: query, overTCP: true) {
                let framed = [UInt8(reply.count >> 8), UInt8(reply.count & 0xff)] + reply
                // A few kilobytes fit a fresh loopback socket's send buffer.
                _ = send(self.connections[index].fd, framed, framed.count, Int32(MSG_NOSIGNAL))
            }
        }
    }

    private func replies(to query: [UInt8], overTCP: Bool) -> [[UInt8]] {
        switch self.behaviour {
        case .answer(let padding):
            return [Self.answer(to: query, padding: padding)]
        case .truncateOverUDP(let padding):
            if overTCP {
                return [Self.answer(to: query, padding: padding)]
            }
            var header = Array(query[0..<12])
            header[2] |= 0x82
            return [header]
        case .wrongIDFirst:
            var other = Self.answer(to: query, padding: 0)
            other[0] ^= 0xff
            return [other, Self.answer(to: query, padding: 0)]
        case .malformed:
            return [Array(query[0..<5])]
        case .silent:
            return []
        }
    }

    /// The query with QR set and `padding` bytes behind it: the client checks the header, not the records.
    static func answer(to query: [UInt8], padding: Int) -> [UInt8] {
        var answer = query
        answer[2] |= 0x80
        answer += (0..<padding).map { UInt8(truncatingIfNeeded: $0) }
        return answer
    }

    /// A query for `example.com` A with `id`.
    static func query(id: UInt16) -> ByteBuffer {
        var query: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        query += [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
        return ByteBuffer(bytes: query)
    }
}

struct LoopbackDNSServerError: Error {
    var errno: Int32
}
