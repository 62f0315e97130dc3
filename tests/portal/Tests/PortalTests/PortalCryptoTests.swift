import FirezoneCrypto
import PortalMessages
import PortalServer
import Testing

/// The portal's derivations against vectors computed independently (Python's hashlib and base64).
struct PortalCryptoTests {
    static let clientKey = PublicKey(bytes: [UInt8](repeating: 1, count: 32))!
    static let gatewayKey = PublicKey(bytes: [UInt8](repeating: 2, count: 32))!

    @Test
    func iceCredentialsAreSlicesOfTheBase32DigestOfThePair() {
        let (client, gateway) = PortalCrypto.iceCredentials(
            client: ClientID("client-1"),
            clientKey: Self.clientKey,
            gateway: GatewayID("gw-1"),
            gatewayKey: Self.gatewayKey
        )
        #expect(client == IceCredentials(username: "t3ie", password: "67ty7kjq5mqpbq3kuuaes4"))
        #expect(gateway == IceCredentials(username: "u6kj", password: "yggoiikutyrddbxmrpyhra"))
    }

    @Test
    func thePresharedKeyIsPBKDF2OfBothBasesSaltedWithThePair() {
        let key = PortalCrypto.presharedKey(
            clientBase: Array(0..<32),
            client: ClientID("client-1"),
            clientKey: Self.clientKey,
            gatewayBase: Array(32..<64),
            gateway: GatewayID("gw-1"),
            gatewayKey: Self.gatewayKey
        )
        #expect(key.base64 == "ChbKWE3KgbvGmKS7Xs3zSWXZI4LHKbsEHj6bigP2Rso=")
    }

    @Test
    func relayCredentialsAreSaltedWithTheComponentsKey() {
        let (username, password) = PortalCrypto.relayCredentials(
            secret: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            componentKey: Self.clientKey,
            expiresAt: 4_102_444_800
        )
        #expect(username == "4102444800:xXzDtV05+ab3cvUI44IeCigIIjUsDQ8NJZ+6Y7dNqaA")
        #expect(password == "uavL/Ej/++lEbOxEG/KYuPQjj9nbxegJhkM6j6XACak")
    }

    @Test(arguments: [([UInt8](), ""), ([0x66], "my"), ([0x66, 0x6F, 0x6F, 0x62, 0x61, 0x72], "mzxw6ytboi")])
    func base32MatchesRFC4648(bytes: [UInt8], text: String) {
        // RFC 4648 §10: BASE32("f") = "MY======", BASE32("foobar") = "MZXW6YTBOI======".
        #expect(PortalCrypto.base32LowercaseUnpadded(bytes) == text)
    }
}
