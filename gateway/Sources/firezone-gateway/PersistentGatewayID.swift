import FirezoneCrypto
import FirezoneOptions
import Glibc

/// The gateway's identity at the portal: `FIREZONE_ID`, or one generated at the first start and kept in a file
/// (Firezone's rust/bin-shared/src/device_id.rs keeps it in `/var/lib/firezone/gateway_id`), so that a restarted
/// gateway is the same gateway to the portal. The portal sees it hashed (``PortalURL`` sends
/// `external_id` = hex(SHA-256(id))).
enum PersistentGatewayID {
    static let idKey = OptionKey("gateway ID", flag: "--id", variable: "FIREZONE_ID")
    static let pathKey = OptionKey("gateway ID file", flag: "--id-path", variable: "FIREZONE_ID_PATH")
    static let defaultPath = "/var/lib/firezone/gateway_id"

    /// The given ID, else the one in the file, else a new one written to the file (its directory made, mode 0600).
    static func resolve(reader: OptionReader, id: String?, path: String?) throws(GatewayFailure) -> String {
        if let id = reader.text(Self.idKey, flag: id) {
            return id
        }
        let path = reader.text(Self.pathKey, flag: path) ?? Self.defaultPath
        if let stored = Self.read(path) {
            return stored
        }
        let id = Self.makeUUID()
        try Self.write(id, to: path)
        return id
    }

    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return nil
        }
        defer { _ = close(fd) }
        var bytes = [UInt8](repeating: 0, count: 256)
        let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else {
            return nil
        }
        let text = String(decoding: bytes[..<count], as: UTF8.self).filter { !$0.isWhitespace }
        return text.isEmpty ? nil : text
    }

    private static func write(_ id: String, to path: String) throws(GatewayFailure) {
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            let directory = String(path[..<slash])
            if mkdir(directory, 0o755) != 0 && errno != EEXIST {
                throw GatewayFailure(
                    .startFailed,
                    "cannot create \(directory) for the gateway ID: \(String(cString: strerror(errno))); set "
                        + "FIREZONE_ID, or FIREZONE_ID_PATH to a writable file"
                )
            }
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        var bytes = Array("\(id)\n".utf8)
        guard fd >= 0, Glibc.write(fd, &bytes, bytes.count) == bytes.count else {
            let error = errno
            if fd >= 0 {
                _ = close(fd)
            }
            throw GatewayFailure(
                .startFailed,
                "cannot write the gateway ID to \(path): \(String(cString: strerror(error))); set FIREZONE_ID, or "
                    + "FIREZONE_ID_PATH to a writable file"
            )
        }
        _ = close(fd)
    }

    /// A random (version 4) UUID, RFC 9562 §5.4.
    static func makeUUID() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let characters = Array(Hex.encode(bytes))
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }
}
