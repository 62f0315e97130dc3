import IPPacket
import NIOCore
import Testing

@testable import WireGuardPeer

/// Cryptokey routing (the WireGuard paper, §2): one longest-prefix-match table routes outgoing packets and checks
/// the source of incoming ones.
struct PeerAllowedIPsTests {
    static let configuration = """
        [Interface]
        PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
        [Peer]
        PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
        AllowedIPs = 10.0.0.0/24, fd00::/64, 172.16.0.0/16
        [Peer]
        PublicKey = HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
        AllowedIPs = 10.0.0.5/32, fd00::5/128, 172.16.0.0/16
        """

    @Test(arguments: [
        ("10.0.0.7", 0), ("10.0.0.5", 1), ("fd00::9", 0), ("fd00::5", 1),
        // wg setconf gives a prefix configured twice to the later peer.
        ("172.16.3.4", 1),
    ])
    func theLongestPrefixNamesTheOnePeerASourceMayComeFrom(source: String, peer: Int) throws {
        let routes = PeerAllowedIPs.routes(of: try DeviceConfiguration(parsing: Self.configuration).peers)
        let address = try #require(IPAddress(source))
        #expect(routes.longestMatch(for: address)?.value == peer)
        let packet = Self.packet(from: address)
        #expect(PeerAllowedIPs(routes: routes, peer: peer).allowsSource(of: packet))
        #expect(!PeerAllowedIPs(routes: routes, peer: 1 - peer).allowsSource(of: packet))
    }

    @Test func sourcesOutsideEveryPrefixAndMalformedPacketsAreRefused() throws {
        let routes = PeerAllowedIPs.routes(of: try DeviceConfiguration(parsing: Self.configuration).peers)
        let allowedIPs = PeerAllowedIPs(routes: routes, peer: 0)
        #expect(!allowedIPs.allowsSource(of: Self.packet(from: try #require(IPAddress("192.168.0.1")))))
        #expect(!allowedIPs.allowsSource(of: Self.packet(from: try #require(IPAddress("fd01::1")))))
        let truncated = Self.packet(from: try #require(IPAddress("10.0.0.7"))).getSlice(at: 0, length: 19)!
        #expect(!allowedIPs.allowsSource(of: truncated))
        #expect(!allowedIPs.allowsSource(of: ByteBuffer()))
    }

    /// An IP header (IPv4 20 bytes, IPv6 40) with `source`; its other fields are left zero but for the version.
    static func packet(from source: IPAddress) -> ByteBuffer {
        var buffer = ByteBuffer()
        switch source {
        case .v4(let address):
            buffer.writeInteger(UInt8(0x45))
            buffer.writeRepeatingByte(0, count: 11)
            buffer.writeInteger(address.rawValue)
            buffer.writeRepeatingByte(0, count: 4)
        case .v6(let address):
            buffer.writeInteger(UInt8(0x60))
            buffer.writeRepeatingByte(0, count: 7)
            buffer.writeInteger(address.high)
            buffer.writeInteger(address.low)
            buffer.writeRepeatingByte(0, count: 16)
        }
        return buffer
    }
}
