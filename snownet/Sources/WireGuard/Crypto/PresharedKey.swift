/// The optional symmetric key mixed into the handshake (Noise IKpsk2's `psk`); all zeros when none is set.
public struct PresharedKey: Sendable, Equatable, CustomStringConvertible {
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

    public var description: String {
        "PresharedKey(redacted)"
    }
}
