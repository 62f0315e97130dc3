import UDPBatch
import Glibc
import IPPacket

/// A bound, non-blocking UDP socket of the relay, closed explicitly by its owner.
struct UDPSocket {
    let fd: Int32
    let family: IPVersion

    /// Kernel socket buffers we ask for: a relay absorbs bursts for many clients at once.
    static let bufferSize: Int32 = 8 << 20

    init(binding address: IPAddress, port: UInt16) throws(RelayIOError) {
        var bytes = [UInt8](repeating: 0, count: 16)
        address.write(into: &bytes)
        let fd = fz_udp_bind(address.version == .v4 ? 4 : 6, bytes, port, Self.bufferSize, Self.bufferSize)
        guard fd >= 0 else {
            throw RelayIOError(operation: "bind \(IPSocketAddress(address, port: port))", errno: -fd)
        }
        // Coalesced receives are an optimisation the event loop handles when the kernel offers them (Linux 5.0 and
        // later); without them every datagram arrives on its own, which works the same, more slowly.
        _ = fz_udp_enable_gro(fd)
        self.fd = fd
        self.family = address.version
    }

    var localPort: UInt16 {
        UInt16(truncatingIfNeeded: fz_udp_local_port(self.fd))
    }

    func close() {
        _ = Glibc.close(self.fd)
    }
}

/// A system call of the relay's IO failed.
public struct RelayIOError: Error, CustomStringConvertible {
    public var operation: String
    public var errno: Int32

    public var description: String {
        "\(self.operation): \(String(cString: strerror(self.errno))) (errno \(self.errno))"
    }
}

extension IPAddress {
    /// The network-order bytes, into the first 4 or 16 bytes of `bytes`.
    func write(into bytes: inout [UInt8]) {
        switch self {
        case .v4(let address):
            for index in 0..<4 {
                bytes[index] = UInt8(truncatingIfNeeded: address.rawValue >> (24 - 8 * index))
            }
        case .v6(let address):
            for index in 0..<8 {
                bytes[index] = UInt8(truncatingIfNeeded: address.high >> (56 - 8 * index))
                bytes[8 + index] = UInt8(truncatingIfNeeded: address.low >> (56 - 8 * index))
            }
        }
    }
}
