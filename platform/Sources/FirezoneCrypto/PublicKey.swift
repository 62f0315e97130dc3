/// A Curve25519 public key: a peer's static identity or a handshake's ephemeral key.
///
/// Not secret, but logs show only a short prefix of its base64 form, which is enough to tell peers apart.
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Bytes32

    public init(_ rawValue: Bytes32) {
        self.rawValue = rawValue
    }

    /// Nil unless `bytes` holds exactly 32 bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard let raw = Bytes32(bytes) else {
            return nil
        }
        self.rawValue = raw
    }

    /// The key from its standard base64 form (44 characters), as `wg` and the portal write it.
    public init?(base64 text: some StringProtocol) {
        guard let bytes = Base64.decode(text), let raw = Bytes32(bytes) else {
            return nil
        }
        self.rawValue = raw
    }

    public var base64: String {
        Base64.encode(self.rawValue.bytes)
    }

    public var description: String {
        "PublicKey(\(self.base64.prefix(8))…)"
    }

    public func hash(into hasher: inout Hasher) {
        self.rawValue.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
