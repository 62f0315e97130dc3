import FirezoneCrypto

/// Our static key pair and the values derived from it once, shared by every tunnel and the rate limiter: one
/// instance, not a 160-byte copy in each of a gateway's thousands of tunnels.
public final class LocalIdentity: Sendable, CustomStringConvertible {
    public let secret: StaticSecret
    public let publicKey: PublicKey
    /// §5.4.2, responder side: `Hash(Hash(Construction) ‖ Identifier) ‖ S_pub_r)`, the first hash of every
    /// initiation addressed to us.
    let initialHash: Bytes32
    /// §5.4.4: `Hash(Label-Mac1 ‖ S_pub_m)`, the key of MAC1 on messages addressed to us.
    let mac1Key: Bytes32
    /// §5.4.7: `Hash(Label-Cookie ‖ S_pub_m)`, the key that seals the cookies we send.
    let cookieKey: Bytes32

    public init(secret: StaticSecret) {
        self.secret = secret
        self.publicKey = secret.publicKey
        self.initialHash = Noise.initialHash(responder: self.publicKey)
        self.mac1Key = Noise.labelledKey(WireGuardConstants.labelMAC1, self.publicKey)
        self.cookieKey = Noise.labelledKey(WireGuardConstants.labelCookie, self.publicKey)
    }

    public var description: String {
        "LocalIdentity(\(self.publicKey))"
    }
}

/// The values derived once from a peer's static key.
package struct RemoteIdentity {
    let publicKey: PublicKey
    let initialHash: Bytes32
    let mac1Key: Bytes32
    let cookieKey: Bytes32

    package init(_ publicKey: PublicKey) {
        self.publicKey = publicKey
        self.initialHash = Noise.initialHash(responder: publicKey)
        self.mac1Key = Noise.labelledKey(WireGuardConstants.labelMAC1, publicKey)
        self.cookieKey = Noise.labelledKey(WireGuardConstants.labelCookie, publicKey)
    }
}
