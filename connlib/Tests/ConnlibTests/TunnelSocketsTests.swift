import Connlib
import FirezoneTesting
import Glibc
import IPPacket
import LinuxIO
import Testing

/// SO_MARK and the *FORCE buffer sizes need CAP_NET_ADMIN: these run as root (PrivilegedTests).
@Suite(.enabled(if: PrivilegedTests.enabled))
struct TunnelSocketsTests {
    private static let buffers = UDPSocketBuffers(sendSize: 1 << 20, receiveSize: 4 << 20, raisesKernelLimits: false)

    private func option(_ fd: Int32, _ name: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, name, &value, &length)
        return value
    }

    @Test func bothSocketsCarryConnlibsFirewallMark() throws {
        let sockets = try TunnelSockets(buffers: Self.buffers, port: 0)
        defer { sockets.close() }
        #expect(UInt32(bitPattern: self.option(sockets.ipv4, SO_MARK)) == 0xfd00_2021)
        let ipv6 = try #require(sockets.ipv6)
        #expect(UInt32(bitPattern: self.option(ipv6, SO_MARK)) == 0xfd00_2021)
    }

    /// The kernel doubles the size set (socket(7)) to leave room for its bookkeeping.
    @Test func socketBuffersAreTheSizesAskedFor() throws {
        let sockets = try TunnelSockets(buffers: Self.buffers, port: 0)
        defer { sockets.close() }
        #expect(self.option(sockets.ipv4, SO_RCVBUF) == 2 * (4 << 20))
        #expect(self.option(sockets.ipv4, SO_SNDBUF) == 2 * (1 << 20))
    }

    @Test func bothFamiliesShareThePreferredPortAndFallBackToAnyWhenItIsTaken() throws {
        // Take a port for IPv4, then ask for it: the IPv4 socket falls back, the IPv6 one (v6-only) still gets it.
        let taken = bindUDP(.v4(IPv4Address(rawValue: 0)), port: 0, receiveBuffer: 0, sendBuffer: 0)
        try #require(taken >= 0)
        defer { close(taken) }
        let port = try #require(TunnelSockets.localPort(of: taken))
        let sockets = try TunnelSockets(buffers: Self.buffers, port: port)
        defer { sockets.close() }
        let ipv4Port = try #require(TunnelSockets.localPort(of: sockets.ipv4))
        #expect(ipv4Port != port)
        #expect(TunnelSockets.localPort(of: try #require(sockets.ipv6)) == port)
    }

    @Test func socketForPicksTheDestinationsFamily() throws {
        let sockets = try TunnelSockets(buffers: Self.buffers, port: 0)
        defer { sockets.close() }
        #expect(sockets.socket(for: .v4(IPv4Address(192, 0, 2, 1))) == sockets.ipv4)
        #expect(sockets.socket(for: .v6(IPv6Address("2001:db8::1")!)) == sockets.ipv6)
    }
}
