import FirezoneCrypto
import Testing

@testable import WireGuard

/// The transport AEAD against libsodium's, an implementation that shares no code with OpenSSL's provider, at the
/// lengths the tunnel uses: a keep-alive's empty payload (WireGuard paper §6.5), one block, and a padded MTU-sized
/// packet.
struct TransportAEADTests {
    static let lengths = [0, 16, 1424]

    static func plaintext(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    }

    /// Seals a copy of `plaintext` with `cipher` under `counter`; the ciphertext followed by the tag.
    static func sealed(_ plaintext: [UInt8], with cipher: some TransportAEAD, counter: UInt64) -> [UInt8] {
        var message = plaintext + [UInt8](repeating: 0, count: 16)
        message.withUnsafeMutableBytes { raw in
            let body = UnsafeMutableRawBufferPointer(rebasing: raw[0..<plaintext.count])
            cipher.seal(counter: counter, body, tag: raw.baseAddress! + plaintext.count)
        }
        return message
    }

    /// Opens a copy of `message` (ciphertext and tag); the plaintext, or nil when it does not authenticate.
    static func opened(_ message: [UInt8], with cipher: some TransportAEAD, counter: UInt64) -> [UInt8]? {
        var copy = message
        let length = message.count - 16
        let authentic = copy.withUnsafeMutableBytes { raw in
            cipher.open(
                counter: counter,
                UnsafeMutableRawBufferPointer(rebasing: raw[0..<length]),
                tag: UnsafeRawPointer(raw.baseAddress! + length)
            )
        }
        return authentic ? Array(copy[0..<length]) : nil
    }

    @Test(arguments: lengths)
    func sealingMatchesLibsodiumAndOpensBack(length: Int) {
        let key = testKey(3)
        let cipher = OpenSSLChaCha20Poly1305(key: key)
        let plaintext = Self.plaintext(length)
        // Several counters through one context: only the nonce changes between packets.
        for counter: UInt64 in [0, 1, 0x1_0000_0001, UInt64.max - 1] {
            let message = Self.sealed(plaintext, with: cipher, counter: counter)
            #expect(message == Self.sealed(plaintext, with: SodiumChaCha20Poly1305(key: key), counter: counter))
            #expect(Self.opened(message, with: cipher, counter: counter) == plaintext)
            #expect(Self.opened(message, with: SodiumChaCha20Poly1305(key: key), counter: counter) == plaintext)
        }
    }

    @Test(arguments: lengths)
    func openingRejectsEveryFlippedBitAndAnotherCounter(length: Int) {
        let cipher = OpenSSLChaCha20Poly1305(key: testKey(5))
        let message = Self.sealed(Self.plaintext(length), with: cipher, counter: 9)
        #expect(Self.opened(message, with: cipher, counter: 10) == nil)
        // Every bit of the tag, and of the first and last ciphertext bytes.
        let positions = Set([0, length - 1].filter { $0 >= 0 } + Array(length..<length + 16)).sorted()
        for position in positions {
            for bit in 0..<8 {
                var forged = message
                forged[position] ^= 1 << bit
                #expect(Self.opened(forged, with: cipher, counter: 9) == nil, "byte \(position) bit \(bit)")
            }
        }
        // A rejection leaves the context usable for the next packet.
        #expect(Self.opened(message, with: cipher, counter: 9) == Self.plaintext(length))
    }

    @Test
    func aReleasedContextIsRebuiltFromTheKey() {
        let cipher = OpenSSLChaCha20Poly1305(key: testKey(7))
        let plaintext = Self.plaintext(1424)
        let first = Self.sealed(plaintext, with: cipher, counter: 4)
        cipher.releaseContext()
        #expect(!cipher.hasContext)
        #expect(Self.opened(first, with: cipher, counter: 4) == plaintext)
        #expect(cipher.hasContext)
        cipher.releaseContext()
        #expect(Self.sealed(plaintext, with: cipher, counter: 4) == first)
    }
}
