import FirezoneCrypto

/// WireGuard's key derivation (§5.4, HKDF over HMAC-BLAKE2s):
/// > Kdf_n(key, input): τ0 := Hmac(key, input), τ1 := Hmac(τ0, 0x1), τi := Hmac(τ0, τi−1 ‖ i)
enum KDF {
    static func derive1(key: Bytes32, input: UnsafeRawBufferPointer) -> Bytes32 {
        var prk = BLAKE2s.hmac(key: key, input)
        defer { prk.setZero() }
        return withUnsafeBytes(of: UInt8(1)) { BLAKE2s.hmac(key: prk, $0) }
    }

    static func derive2(key: Bytes32, input: UnsafeRawBufferPointer) -> (Bytes32, Bytes32) {
        var prk = BLAKE2s.hmac(key: key, input)
        defer { prk.setZero() }
        let first = withUnsafeBytes(of: UInt8(1)) { BLAKE2s.hmac(key: prk, $0) }
        let second = first.withUnsafeBytes { first in
            withUnsafeBytes(of: UInt8(2)) { BLAKE2s.hmac(key: prk, first, $0) }
        }
        return (first, second)
    }

    static func derive3(key: Bytes32, input: UnsafeRawBufferPointer) -> (Bytes32, Bytes32, Bytes32) {
        var prk = BLAKE2s.hmac(key: key, input)
        defer { prk.setZero() }
        let first = withUnsafeBytes(of: UInt8(1)) { BLAKE2s.hmac(key: prk, $0) }
        let second = first.withUnsafeBytes { first in
            withUnsafeBytes(of: UInt8(2)) { BLAKE2s.hmac(key: prk, first, $0) }
        }
        let third = second.withUnsafeBytes { second in
            withUnsafeBytes(of: UInt8(3)) { BLAKE2s.hmac(key: prk, second, $0) }
        }
        return (first, second, third)
    }

    static func derive1(key: Bytes32, input: Bytes32) -> Bytes32 {
        input.withUnsafeBytes { Self.derive1(key: key, input: $0) }
    }

    static func derive2(key: Bytes32, input: Bytes32) -> (Bytes32, Bytes32) {
        input.withUnsafeBytes { Self.derive2(key: key, input: $0) }
    }

    static func derive3(key: Bytes32, input: Bytes32) -> (Bytes32, Bytes32, Bytes32) {
        input.withUnsafeBytes { Self.derive3(key: key, input: $0) }
    }
}
