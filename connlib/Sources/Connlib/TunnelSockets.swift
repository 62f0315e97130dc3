import Glibc
import IPPacket
import LinuxIO

/// The tunnel's UDP sockets: one IPv4 and one IPv6-only socket, each on port 52625 when it is free and on any
/// port otherwise (Firezone's rust/connlib/tunnel/src/io.rs binds the same way, so that a gateway behind a port
/// forward keeps a predictable port), with UDP GRO, the buffer sizes asked for and connlib's firewall mark.
///
/// Connlib's own packets carry ``TunnelRouting/firewallMark`` (rust/connlib/tunnel/src/lib.rs): the client's policy rules
/// send traffic without it into the tunnel's routing table, so the tunnel's own datagrams must never loop back
/// into it. Setting SO_MARK needs CAP_NET_ADMIN, which the tunnel needs anyway.
///
/// The descriptors are owned: ``close()`` closes them.
public final class TunnelSockets {
    public static let preferredPort: UInt16 = 52625

    /// Why a socket could not be made: the operation and errno.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var operation: String
        public var errno: Int32

        public var description: String {
            "\(self.operation): \(String(cString: strerror(self.errno)))"
        }
    }

    public private(set) var ipv4: Int32
    /// nil on a host without IPv6.
    public private(set) var ipv6: Int32?

    /// Binds both sockets on the wildcard addresses.
    public init(buffers: UDPSocketBuffers, port: UInt16 = TunnelSockets.preferredPort) throws(Failure) {
        let any4 = IPAddress.v4(IPv4Address(rawValue: 0))
        let any6 = IPAddress.v6(IPv6Address(high: 0, low: 0))
        self.ipv4 = try Self.open(any4, port: port, buffers: buffers)
        do {
            self.ipv6 = try Self.open(any6, port: port, buffers: buffers)
        } catch  where error.errno == EAFNOSUPPORT || error.errno == EADDRNOTAVAIL {
            // IPv6 turned off on this host (ipv6.disable=1 or no address family): run IPv4 only.
            self.ipv6 = nil
        } catch {
            _ = Glibc.close(self.ipv4)
            throw error
        }
    }

    deinit {
        self.close()
    }

    /// Closes both sockets; later calls do nothing.
    public func close() {
        if self.ipv4 >= 0 {
            _ = Glibc.close(self.ipv4)
            self.ipv4 = -1
        }
        if let ipv6 = self.ipv6, ipv6 >= 0 {
            _ = Glibc.close(ipv6)
            self.ipv6 = nil
        }
    }

    /// The socket a datagram to `destination` leaves from; nil for IPv6 without an IPv6 socket.
    public func socket(for destination: IPAddress) -> Int32? {
        switch destination {
        case .v4: self.ipv4
        case .v6: self.ipv6
        }
    }

    /// The port a socket is bound to.
    public static func localPort(of fd: Int32) -> UInt16? {
        let port = fz_udp_local_port(fd)
        return port > 0 ? UInt16(port) : nil
    }

    /// One socket: `port` if free, else any port; marked, with GRO on where the kernel has it.
    static func open(_ address: IPAddress, port: UInt16, buffers: UDPSocketBuffers) throws(Failure) -> Int32 {
        let family = address.version == .v4 ? "IPv4" : "IPv6"
        var fd = bindUDP(
            address,
            port: port,
            receiveBuffer: Int32(clamping: buffers.receiveSize),
            sendBuffer: Int32(clamping: buffers.sendSize)
        )
        if fd == -EADDRINUSE && port != 0 {
            fd = bindUDP(
                address,
                port: 0,
                receiveBuffer: Int32(clamping: buffers.receiveSize),
                sendBuffer: Int32(clamping: buffers.sendSize)
            )
        }
        guard fd >= 0 else {
            throw Failure(operation: "bind the tunnel's \(family) UDP socket", errno: -fd)
        }
        var mark = TunnelRouting.firewallMark
        guard setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, socklen_t(MemoryLayout<UInt32>.size)) == 0 else {
            let error = errno
            _ = Glibc.close(fd)
            throw Failure(operation: "set SO_MARK on the tunnel's \(family) UDP socket", errno: error)
        }
        // Best effort: without UDP GRO every datagram simply arrives on its own.
        _ = fz_udp_enable_gro(fd)
        return fd
    }
}
