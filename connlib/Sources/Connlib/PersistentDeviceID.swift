import FirezoneCrypto
import Glibc

/// A device's identity at the portal when `FIREZONE_ID` is not given: generated at the first start and kept in a
/// file (Firezone's rust/bin-shared/src/device_id.rs: the gateway keeps it in `/var/lib/firezone/gateway_id`, the
/// headless client under `/var/lib/dev.firezone.client/config`), so that a restarted gateway or client is the same
/// device to the portal. The portal sees it hashed (`external_id` = hex(SHA-256(id))).
public enum PersistentDeviceID {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The ID in `path`, else a new one written there (each missing directory made, as `mkdir -p` does; the file
    /// mode 0600).
    public static func resolve(path: String) throws(Failure) -> String {
        if let stored = Self.read(path) {
            return stored
        }
        let id = Self.makeUUID()
        try Self.write(id, to: path)
        return id
    }

    static func read(_ path: String) -> String? {
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

    private static func write(_ id: String, to path: String) throws(Failure) {
        var cursor = path.startIndex
        while cursor < path.endIndex, let slash = path[path.index(after: cursor)...].firstIndex(of: "/") {
            let directory = String(path[..<slash])
            if mkdir(directory, 0o755) != 0 && errno != EEXIST {
                throw Failure(
                    description: "cannot create \(directory) for the device ID: \(String(cString: strerror(errno))); "
                        + "set FIREZONE_ID, or FIREZONE_ID_PATH to a writable file"
                )
            }
            cursor = slash
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        var bytes = Array("\(id)\n".utf8)
        guard fd >= 0, Glibc.write(fd, &bytes, bytes.count) == bytes.count else {
            let error = errno
            if fd >= 0 {
                _ = close(fd)
            }
            throw Failure(
                description: "cannot write the device ID to \(path): \(String(cString: strerror(error))); set "
                    + "FIREZONE_ID, or FIREZONE_ID_PATH to a writable file"
            )
        }
        _ = close(fd)
    }

    /// A random (version 4) UUID, RFC 9562 §5.4.
    public static func makeUUID() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let characters = Array(Hex.encode(bytes))
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }
}
