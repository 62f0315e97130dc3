import FirezoneCrypto

/// A Curve25519 private key: our static identity or a handshake's ephemeral secret. Never printed.
public struct StaticSecret: Sendable, CustomStringConvertible {
    public var rawValue: Bytes32

    /// The key from 32 bytes; X25519 clamps it when it is used, as `wg pubkey` does.
    public init(_ rawValue: Bytes32) {
        self.rawValue = rawValue
    }

    /// The key from its standard base64 form, as `wg genkey` writes it.
    public init?(base64 text: some StringProtocol) {
        guard let bytes = Base64.decode(text), let raw = Bytes32(bytes) else {
            return nil
        }
        self.rawValue = raw
    }

    public var publicKey: PublicKey {
        X25519.publicKey(for: self)
    }

    public var description: String {
        "StaticSecret(redacted)"
    }

    public mutating func setZero() {
        self.rawValue.setZero()
    }
}
