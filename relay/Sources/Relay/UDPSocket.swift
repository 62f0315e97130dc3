import Glibc
import IPPacket
import LinuxIO

/// A bound, non-blocking UDP socket of the relay, closed explicitly by its owner.
struct UDPSocket {
    let fd: Int32
    let family: IPVersion

    /// Kernel socket buffers we ask for: a relay absorbs bursts for many clients at once.
    static let bufferSize: Int32 = 8 << 20

    init(binding address: IPAddress, port: UInt16) throws(SystemCallError) {
        let fd = bindUDP(address, port: port, receiveBuffer: Self.bufferSize, sendBuffer: Self.bufferSize)
        guard fd >= 0 else {
            throw SystemCallError(operation: "bind \(IPSocketAddress(address, port: port))", errno: -fd)
        }
        // Coalesced receives are an optimisation the event loop handles when the kernel offers them (Linux 5.0 and
        // later); without them every datagram arrives on its own, which works the same, more slowly.
        _ = fz_udp_enable_gro(fd)
        // Bound to the wildcard address, the socket learns which of the host's addresses each datagram was sent
        // to, so that the answer can leave from it (RelayEventLoop).
        if address == .v4(.any) || address == .v6(.unspecified) {
            let enabled = fz_udp_enable_local_address(fd, address.version.rawValue)
            guard enabled == 0 else {
                _ = Glibc.close(fd)
                throw SystemCallError(
                    operation: "IP_PKTINFO on \(IPSocketAddress(address, port: port))",
                    errno: -enabled
                )
            }
        }
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
