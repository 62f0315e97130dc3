import FirezoneCrypto

/// A handshake initiation addressed to us whose initiator static key is decrypted (§5.4.2, responder side, up to
/// `msg.static`): enough to pick the tunnel, which then finishes the initiation without repeating the DH with our
/// static key.
public struct DecryptedInitiation {
    var state: Noise.DecryptedInitiator

    /// The static public key of whoever sent the initiation.
    public var initiatorKey: PublicKey {
        self.state.staticKey
    }

    /// Wipes the chaining key and hash of a decrypted initiation that no tunnel will consume.
    public mutating func setZero() {
        self.state.setZero()
    }
}
