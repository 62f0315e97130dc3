import CLibBPF
import COpenSSL
import CSodium
import FirezoneTesting
import Testing

/// The system libraries link and answer with the values their specifications fix.
struct SystemLibrariesTests {
    @Test func openSSLComputesTheRFC7693BLAKE2sVector() throws {
        let digest = try #require(EVP_MD_fetch(nil, "BLAKE2S-256", nil))
        defer { EVP_MD_free(digest) }
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let input: [UInt8] = Array("abc".utf8)
        #expect(EVP_Digest(input, input.count, &output, &length, digest, nil) == 1)
        // RFC 7693 Appendix B.
        #expect(hex(output) == "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982")
    }

    @Test func libsodiumDerivesTheRFC7748X25519PublicKey() {
        #expect(sodium_init() >= 0)
        // RFC 7748 §6.1: Alice's private and public keys.
        let privateKey = bytes(hex: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        var publicKey = [UInt8](repeating: 0, count: 32)
        #expect(crypto_scalarmult_base(&publicKey, privateKey) == 0)
        #expect(hex(publicKey) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    }

    @Test func libbpfIsVersionOne() {
        #expect(libbpf_major_version() == 1)
    }
}
