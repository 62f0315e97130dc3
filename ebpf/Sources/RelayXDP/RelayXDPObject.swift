/// The compiled XDP program, embedded by the RelayXDPCompiler plugin (see `ebpf/xdp/build.sh`).
enum RelayXDPObject {
    /// The ELF object file's bytes, decoded once from the generated hexadecimal text.
    static let bytes: [UInt8] = RelayXDPObjectFile.hex.withUTF8Buffer { text in
        func nibble(_ digit: UInt8) -> UInt8 {
            digit <= UInt8(ascii: "9") ? digit - UInt8(ascii: "0") : digit - UInt8(ascii: "a") + 10
        }
        precondition(text.count % 2 == 0, "the generated object is not whole bytes")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count / 2)
        var index = 0
        while index < text.count {
            bytes.append(nibble(text[index]) << 4 | nibble(text[index + 1]))
            index += 2
        }
        return bytes
    }
}
