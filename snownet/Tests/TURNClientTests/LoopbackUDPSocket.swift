import Glibc
import IPPacket
import NIOCore

/// A blocking IPv4 UDP socket on 127.0.0.1 for the tests against a real TURN server.
final class LoopbackUDPSocket {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let descriptor: Int32
    let address: IPSocketAddress

    /// Bound to `port` on 127.0.0.1, or to a free port for 0.
    init(port: UInt16 = 0) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else {
            throw Failure(description: "socket: \(String(cString: strerror(errno)))")
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let error = String(cString: strerror(errno))
            close(descriptor)
            throw Failure(description: "bind: \(error)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.descriptor = descriptor
        self.address = IPSocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: UInt16(bigEndian: address.sin_port))
    }

    deinit {
        close(self.descriptor)
    }

    func send(_ payload: ByteBuffer, to destination: IPSocketAddress) throws {
        guard case .v4(let ip) = destination.address else {
            throw Failure(description: "only IPv4 destinations: \(destination)")
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = destination.port.bigEndian
        address.sin_addr.s_addr = ip.rawValue.bigEndian
        let sent = payload.withUnsafeReadableBytes { bytes in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(
                        self.descriptor,
                        bytes.baseAddress,
                        bytes.count,
                        0,
                        $0,
                        socklen_t(MemoryLayout<sockaddr_in>.size)
                    )
                }
            }
        }
        guard sent == payload.readableBytes else {
            throw Failure(description: "sendto \(destination): \(String(cString: strerror(errno)))")
        }
    }

    /// The next datagram within `timeout`, or nil.
    func receive(timeout: Duration) throws -> (payload: ByteBuffer, source: IPSocketAddress)? {
        var descriptor = pollfd(fd: self.descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = max(
            0,
            Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        )
        guard poll(&descriptor, 1, milliseconds) > 0 else {
            return nil
        }
        var bytes = [UInt8](repeating: 0, count: 65_536)
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let received = bytes.withUnsafeMutableBytes { buffer in
            withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(self.descriptor, buffer.baseAddress, buffer.count, 0, $0, &length)
                }
            }
        }
        guard received >= 0 else {
            throw Failure(description: "recvfrom: \(String(cString: strerror(errno)))")
        }
        let source = IPSocketAddress(
            .v4(IPv4Address(rawValue: UInt32(bigEndian: address.sin_addr.s_addr))),
            port: UInt16(bigEndian: address.sin_port)
        )
        return (ByteBuffer(bytes: bytes[0..<received]), source)
    }
}
