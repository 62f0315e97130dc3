/// The optional symmetric key mixed into the handshake (Noise IKpsk2's `psk`); all zeros when none is set.
public struct PresharedKey: Sendable, Hashable, CustomStringConvertible {
    public var rawValue: Bytes32

    /// WireGuard §5.4.3: "If Q is not set, it is 0^32."
    public static let none = PresharedKey(.zero)

    public init(_ rawValue: Bytes32) {
        self.rawValue = rawValue
    }

    public init?(base64 text: some StringProtocol) {
        guard let bytes = Base64.decode(text), let raw = Bytes32(bytes) else {
            return nil
        }
        self.rawValue = raw
    }

    /// Nil unless `bytes` holds exactly 32 bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard let raw = Bytes32(bytes) else {
            return nil
        }
        self.rawValue = raw
    }

    /// The secret in standard base64, for the messages that carry it; never for logs.
    public var base64: String {
        Base64.encode(self.rawValue.bytes)
    }

    public var description: String {
        "PresharedKey(redacted)"
    }

    public func hash(into hasher: inout Hasher) {
        self.rawValue.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
