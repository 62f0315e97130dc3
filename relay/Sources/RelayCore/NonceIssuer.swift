import FirezoneCrypto
import STUN

/// The relay's nonces (RFC 8489 §9.2): stateless, so that no traffic, however much of it is unauthenticated,
/// makes the relay remember anything.
///
/// A nonce is the Unix second it was issued and an HMAC-SHA1 of that second under a key drawn at start, both in
/// hex: `<16 hex digits><40 hex digits>`. The relay checks a nonce by recomputing its MAC and its age; it stays
/// single-relay (the key never leaves the process) and short-lived (``RelayLimits/nonceLifetime``).
struct NonceIssuer {
    /// 16 hex digits of issue time, 40 of MAC: 56 characters, within RFC 8489 §14.10's 128.
    static let length = 16 + 2 * HMACSHA1.length

    enum Check: Equatable {
        /// Ours and young enough.
        case valid
        /// Not of our form: a 401.
        case malformed
        /// Of our form, but older than its lifetime, from the future, or minted under another key (an earlier run
        /// of the relay): a 438 Stale Nonce, so that the client retries with the fresh nonce it carries.
        case stale
    }

    private let key: [UInt8]
    private let lifetime: Duration

    init(using rng: inout some RandomNumberGenerator, lifetime: Duration) {
        var key: [UInt8] = []
        key.reserveCapacity(32)
        for _ in 0..<4 {
            withUnsafeBytes(of: rng.next()) { key.append(contentsOf: $0) }
        }
        self.key = key
        self.lifetime = lifetime
    }

    /// A nonce issued at `unixTime`.
    func issue(unixTime: Duration) -> String {
        let seconds = UInt64(clamping: unixTime.components.seconds)
        return Self.hex(seconds) + Self.hex(self.mac(seconds))
    }

    /// Whether `nonce` is one of ours and still good at `unixTime`.
    func check(_ nonce: String, unixTime: Duration) -> Check {
        let utf8 = Array(nonce.utf8)
        guard utf8.count == Self.length, let issuedBytes = Self.bytes(fromHex: utf8[..<16]),
            let mac = Self.bytes(fromHex: utf8[16...])
        else {
            return .malformed
        }
        let seconds = issuedBytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard Self.constantTimeEqual(mac, self.mac(seconds)) else {
            return .stale
        }
        let issued = Duration.seconds(Int64(clamping: seconds))
        guard issued <= unixTime, unixTime - issued < self.lifetime else {
            return .stale
        }
        return .valid
    }

    private func mac(_ seconds: UInt64) -> [UInt8] {
        withUnsafeBytes(of: seconds.bigEndian) { HMACSHA1.authenticationCode(for: $0, key: self.key) }
    }

    /// Compares every byte whatever the first difference, so that the time taken tells nothing about the MAC.
    private static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else {
            return false
        }
        var difference: UInt8 = 0
        for index in lhs.indices {
            difference |= lhs[index] ^ rhs[index]
        }
        return difference == 0
    }

    private static let digits = Array("0123456789abcdef".utf8)

    private static func hex(_ value: UInt64) -> String {
        withUnsafeBytes(of: value.bigEndian) { Self.hex(Array($0)) }
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            output.append(Self.digits[Int(byte >> 4)])
            output.append(Self.digits[Int(byte & 0x0F)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Lower-case hex only, as we issue it, of an even number of digits.
    private static func bytes(fromHex text: ArraySlice<UInt8>) -> [UInt8]? {
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var output: [UInt8] = []
        output.reserveCapacity(text.count / 2)
        var index = text.startIndex
        while index < text.endIndex {
            guard let high = value(text[index]), let low = value(text[index + 1]) else {
                return nil
            }
            output.append(high << 4 | low)
            index += 2
        }
        return output
    }
}
