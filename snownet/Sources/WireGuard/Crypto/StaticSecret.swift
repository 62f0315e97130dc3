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

    /// A new key from `generator`: Firezone's gateway makes one at every start (rust/gateway/src/main.rs), its
    /// client at every start and every reset (rust/connlib/snownet/src/node.rs, `reset`).
    public static func random(using generator: inout some RandomNumberGenerator) -> StaticSecret {
        var bytes = [UInt8](repeating: 0, count: Bytes32.count)
        for index in bytes.indices {
            bytes[index] = UInt8.random(in: .min ... .max, using: &generator)
        }
        guard let raw = Bytes32(bytes) else {
            preconditionFailure("32 bytes make a Bytes32")
        }
        return StaticSecret(raw)
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
