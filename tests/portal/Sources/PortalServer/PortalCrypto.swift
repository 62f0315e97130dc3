import COpenSSL
import FirezoneCrypto
import PortalMessages
import RelayCore
import STUN

/// The derivations of Firezone 685acdac3a's portal (the preshared key as in elixir/apps/domain/lib/domain/crypto.ex,
/// the relay credential salt as in elixir/apps/domain/lib/domain/relays.ex), deterministic per client/gateway pair
/// so that a repeated flow yields the same credentials and the existing connection is reused.
package enum PortalCrypto {
    /// ICE credentials of both ends: SHA-256 of `client_id:client_pubkey:gateway_id:gateway_pubkey`, base32
    /// lowercase without padding (52 characters); the client's ufrag is characters 0–3 and its password 4–25, the
    /// gateway's ufrag 26–29 and its password 30–51.
    package static func iceCredentials(
        client: ClientID,
        clientKey: PublicKey,
        gateway: GatewayID,
        gatewayKey: PublicKey
    ) -> (client: IceCredentials, gateway: IceCredentials) {
        let digest = SHA256.hash(Array("\(client):\(clientKey.base64):\(gateway):\(gatewayKey.base64)".utf8))
        let text = Array(base32LowercaseUnpadded(digest))
        func slice(_ range: Range<Int>) -> String { String(text[range]) }
        return (
            IceCredentials(username: slice(0..<4), password: slice(4..<26)),
            IceCredentials(username: slice(26..<30), password: slice(30..<52))
        )
    }

    /// The WireGuard preshared key of a pair: PBKDF2-HMAC-SHA256 over the two components' secret PSK bases, salted
    /// with the pair's ids and keys, one iteration, 32 bytes.
    package static func presharedKey(
        clientBase: [UInt8],
        client: ClientID,
        clientKey: PublicKey,
        gatewayBase: [UInt8],
        gateway: GatewayID,
        gatewayKey: PublicKey
    ) -> PresharedKey {
        let salt = Array(
            "WG_PSK|C_ID:\(client)|G_ID:\(gateway)|C_PK:\(clientKey.base64)|G_PK:\(gatewayKey.base64)".utf8
        )
        // PBKDF2 with one iteration and one block: HMAC(password, salt || INT32_BE(1)).
        let block = hmacSHA256(key: clientBase + gatewayBase, message: salt + [0, 0, 0, 1])
        return PresharedKey(bytes: block)!
    }

    /// A relay's credentials for one component: username `<expiry>:<salt>` with the salt base64 without padding of
    /// SHA-256 of the component's public key, the password from the relay's stamp secret
    /// (rust/relay/server/src/auth.rs).
    package static func relayCredentials(
        secret: String,
        componentKey: PublicKey,
        expiresAt: UInt64
    ) -> (username: String, password: String) {
        let salt = Base64.encode(SHA256.hash(Array(componentKey.base64.utf8)), padding: false)
        return RelayCredentials.mint(expiry: expiresAt, salt: salt, secret: secret)
    }

    static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let result = key.withUnsafeBytes { key in
            message.withUnsafeBytes { message in
                output.withUnsafeMutableBytes { output in
                    HMAC(
                        EVP_sha256(),
                        key.baseAddress,
                        Int32(key.count),
                        message.baseAddress?.assumingMemoryBound(to: UInt8.self),
                        message.count,
                        output.baseAddress?.assumingMemoryBound(to: UInt8.self),
                        &length
                    )
                }
            }
        }
        precondition(result != nil && length == 32, "HMAC-SHA256 failed in libcrypto")
        return output
    }

    /// RFC 4648 §6 base32, lower case, without padding.
    package static func base32LowercaseUnpadded(_ bytes: [UInt8]) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        var output = ""
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                output.append(alphabet[Int(buffer >> UInt32(bits)) & 0x1F])
            }
        }
        if bits > 0 {
            output.append(alphabet[Int(buffer << UInt32(5 - bits)) & 0x1F])
        }
        return output
    }
}
