import FirezoneCrypto
import WireGuard

extension StaticSecret {
    /// A new key for this run: Firezone's gateway makes a fresh one at every start (rust/gateway/src/main.rs), and
    /// so does its client.
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
}
