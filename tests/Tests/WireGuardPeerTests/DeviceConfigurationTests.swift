import FirezoneCrypto
import IPPacket
import Testing
import WireGuard
import WireGuardPeer

/// The `wg setconf` format, as wg(8) documents it, and errors that name the offending line.
struct DeviceConfigurationTests {
    static let privateKey = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
    static let publicKey = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
    static let presharedKey = "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE="

    @Test func parsesAFullConfiguration() throws {
        let text = """
            # A comment line
            [Interface]
            PrivateKey = \(Self.privateKey)
            listenport=51820   # keys are case-insensitive

            [Peer]
            PublicKey = \(Self.publicKey)
            PresharedKey = \(Self.presharedKey)
            Endpoint = [fd99::2]:51821
            AllowedIPs = 10.100.0.2/32, fd00:100::2/128
            AllowedIPs = 192.168.7.9/24
            PersistentKeepalive = 25

            [Peer]
            PublicKey = HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
            Endpoint = 10.99.0.3:51820
            PersistentKeepalive = off
            """
        let configuration = try DeviceConfiguration(parsing: text)
        #expect(configuration.listenPort == 51820)
        #expect(configuration.privateKey.publicKey == PublicKey(base64: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="))
        #expect(configuration.peers.count == 2)
        let first = configuration.peers[0]
        #expect(first.publicKey == PublicKey(base64: Self.publicKey))
        #expect(first.presharedKey == PresharedKey(base64: Self.presharedKey))
        #expect(first.endpoint == IPSocketAddress("[fd99::2]:51821"))
        #expect(first.allowedIPs.map(\.description) == ["10.100.0.2/32", "fd00:100::2/128", "192.168.7.0/24"])
        #expect(first.persistentKeepalive == .seconds(25))
        #expect(configuration.peers[1].persistentKeepalive == nil)
        #expect(configuration.peers[1].presharedKey == .none)
    }

    @Test(arguments: [
        ("[Interface]\nPrivateKey = nope\n", 2, "PrivateKey is not a base64 key of 32 bytes"),
        ("[Interface]\nPrivateKey = \(privateKey)\nFwMark = 1\n", 3, "unknown [Interface] key 'fwmark'"),
        ("[Interface]\nPrivateKey = \(privateKey)\nListenPort = 70000\n", 3, "ListenPort '70000' is not a port number"),
        ("[Interface]\nPrivateKey = \(privateKey)\n[Peer]\nEndpoint = 1.2.3.4:5\n", 3, "[Peer] has no PublicKey"),
        (
            "[Interface]\nPrivateKey = \(privateKey)\n[Peer]\nPublicKey = \(publicKey)\nEndpoint = example.com:51820\n",
            5,
            "Endpoint 'example.com:51820' is not an IP address and port"
        ),
        (
            "[Interface]\nPrivateKey = \(privateKey)\n[Peer]\nPublicKey = \(publicKey)\nAllowedIPs = 10.0.0.0/33\n", 5,
            "AllowedIPs entry '10.0.0.0/33' is not an address/prefix"
        ),
        (
            "[Interface]\nPrivateKey = \(privateKey)\n[Peer]\nPublicKey = \(publicKey)\nPersistentKeepalive = soon\n",
            5,
            "PersistentKeepalive 'soon' is not a number of seconds or 'off'"
        ),
        ("PrivateKey = \(privateKey)\n", 1, "'privatekey' outside of a section"),
        ("[Interface]\nListenPort = 1\n", 1, "[Interface] has no PrivateKey"),
        ("[Interface]\nPrivateKey = \(privateKey)\n[Peers]\n", 3, "unknown section [Peers]"),
        ("[Interface]\nPrivateKey = \(privateKey)\njust words\n", 3, "expected 'Key = Value'"),
        (
            "[Interface]\nPrivateKey = \(privateKey)\n[Peer]\nPublicKey = \(publicKey)\n[Peer]\nPublicKey = \(publicKey)\n",
            5,
            "a [Peer] with this PublicKey appears twice"
        ),
    ])
    func rejectsBadConfigurationNamingTheLine(text: String, line: Int, message: String) {
        do {
            _ = try DeviceConfiguration(parsing: text, path: "wg0.conf")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.line == line)
            #expect(error.message.hasPrefix(message), "\(error)")
            #expect(error.description.hasPrefix("wg0.conf:\(line): "))
        }
    }

    @Test func networksContainTheirAddressesOnly() throws {
        let v4 = try IPNetwork(masking: "10.1.2.3/16")
        #expect(v4.description == "10.1.0.0/16")
        #expect(v4.contains(IPAddress("10.1.255.1")!))
        #expect(!v4.contains(IPAddress("10.2.0.1")!))
        #expect(!v4.contains(IPAddress("::ffff:10.1.0.1")!))
        let v6 = try #require(IPNetwork("fd00:100::/72"))
        #expect(v6.contains(IPAddress("fd00:100::00ff:1")!))
        #expect(!v6.contains(IPAddress("fd00:100:0:0:100::1")!))
        #expect(IPNetwork("0.0.0.0/0")!.contains(IPAddress("1.2.3.4")!))
        #expect(IPNetwork("::/0")!.contains(IPAddress("fd00::1")!))
    }
}
