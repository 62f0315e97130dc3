import FirezoneCrypto
import PhoenixCore
import Testing

struct PortalURLTests {
    @Test
    func tokenComesFirstThenTheRelayParametersInSeedEraOrder() throws {
        let url = try PortalURL(
            apiURL: "wss://api.firezone.dev",
            topic: "relay",
            token: "abc.def",
            parameters: .relay(name: "relay-1", ipv4: "203.0.113.1", ipv6: "2001:db8::1", port: 3478)
        )
        #expect(url.scheme == .wss)
        #expect(url.host == "api.firezone.dev")
        #expect(url.port == 443)
        #expect(
            url.requestTarget
                == "/relay/websocket?token=abc.def&name=relay-1&ipv4=203.0.113.1&ipv6=2001%3Adb8%3A%3A1&port=3478"
        )
    }

    @Test
    func gatewayAndClientParametersEndWithThePublicKey() throws {
        let gateway = try PortalURL(
            apiURL: "https://portal.example/api/",
            topic: "gateway",
            token: "t",
            parameters: .gateway(id: "ext", name: "gw 1", publicKey: "uMBCkAxTewfS+/w=")
        )
        #expect(
            gateway.requestTarget
                == "/api/gateway/websocket?token=t&external_id=ext&name=gw+1&public_key=uMBCkAxTewfS%2B%2Fw%3D"
        )
        let client = try PortalURL(
            apiURL: "http://127.0.0.1:8081/",
            topic: "client",
            token: "t",
            parameters: .client(id: "e", name: nil, deviceSerial: "s", publicKey: "k")
        )
        #expect(client.scheme == .ws)
        #expect(client.port == 8081)
        #expect(client.requestTarget == "/client/websocket?token=t&external_id=e&device_serial=s&public_key=k")
    }

    @Test
    func aNewPublicKeyReplacesOnlyThePublicKeyParameter() throws {
        var url = try PortalURL(
            apiURL: "wss://api.example/",
            topic: "client",
            token: "a b",
            parameters: .client(id: "e", name: "n", publicKey: "old")
        )
        url.parameters = url.parameters.replacingPublicKey(with: "new/+=")
        #expect(url.requestTarget == "/client/websocket?token=a+b&external_id=e&name=n&public_key=new%2F%2B%3D")
        #expect(url.parameters == .client(id: "e", name: "n", publicKey: "new/+="))
    }

    @Test
    func theApiURLsQueryIsReplacedAndIPv6HostsAreUnbracketed() throws {
        let url = try PortalURL(
            apiURL: "ws://[::1]:9000/base?old=1#frag",
            topic: "client",
            token: "t",
            parameters: .client(id: "e", name: nil, publicKey: "k")
        )
        #expect(url.host == "::1")
        #expect(url.port == 9000)
        #expect(url.requestTarget == "/base/client/websocket?token=t&external_id=e&public_key=k")
        #expect(url.description == "ws://[::1]:9000/base/client/websocket?token=<redacted>&external_id=e&public_key=k")
    }

    @Test
    func aUUIDIdTravelsAsTheHexOfItsSHA256() {
        // `printf %s 2e5c0210-3ac0-49cd-bfc9-8005046291de | sha256sum`
        #expect(
            LoginParameters.externalID(for: "2e5c0210-3ac0-49cd-bfc9-8005046291de")
                == "a9c8f0f4ac0a924cf7e66b19a6299cc158226ae54f9c87759a641a88b4de1b44"
        )
        // Anything else is sent as it is.
        #expect(LoginParameters.externalID(for: "my-gateway") == "my-gateway")
        #expect(
            LoginParameters.externalID(for: "2e5c0210-3ac0-49cd-bfc9-8005046291dz")
                == "2e5c0210-3ac0-49cd-bfc9-8005046291dz"
        )
    }

    @Test
    func theDescriptionNeverShowsTheToken() throws {
        let url = try PortalURL(
            apiURL: "ws://localhost",
            topic: "relay",
            token: "SFMyNTY.very-secret",
            parameters: .relay(name: nil, ipv4: nil, ipv6: nil, port: 3478)
        )
        #expect(url.port == 80)
        #expect(!url.description.contains("very-secret"))
        #expect(url.description.contains("token=<redacted>&port=3478"))
    }

    @Test(arguments: [
        "api.firezone.dev", "ftp://host", "ws://", "ws://host:0", "ws://host:70000", "ws://host:x", "ws://[::1",
        "ws://user@host",
    ])
    func rejectsUnusableApiURLs(_ text: String) {
        #expect(throws: PortalURLError.self) {
            try PortalURL(
                apiURL: text,
                topic: "relay",
                token: "t",
                parameters: .relay(name: nil, ipv4: nil, ipv6: nil, port: 1)
            )
        }
    }
}
