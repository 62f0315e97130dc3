import Foundation
import Glibc

/// The runtime file the client keeps its ``ClientStatus`` in, replaced atomically (a whole new file renamed over
/// the old, rename(2)), so that a reader never sees half a status.
public struct StatusFile: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case malformed(path: String)
        case unwritable(path: String, reason: String)

        public var description: String {
            switch self {
            case .unreadable(let path, let reason):
                "cannot read the status file '\(path)' (\(reason)); is the client running? (--status-path / "
                    + "FIREZONE_STATUS_PATH names another file)"
            case .malformed(let path):
                "the status file '\(path)' is not a status the client wrote"
            case .unwritable(let path, let reason):
                "cannot write the status file '\(path)': \(reason)"
            }
        }
    }

    public var path: String

    public init(path: String) {
        self.path = path
    }

    public func write(_ status: ClientStatus) throws(Failure) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let bytes: [UInt8]
        do {
            bytes = Array(try encoder.encode(status)) + [0x0A]
        } catch {
            preconditionFailure("a status of strings, numbers and booleans always encodes: \(error)")
        }
        if let slash = self.path.lastIndex(of: "/"), slash != self.path.startIndex {
            // Readable by everyone, as /run/systemd's status files are: it holds no secret.
            _ = mkdir(String(self.path[..<slash]), 0o755)
        }
        let temporary = self.path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw .unwritable(path: temporary, reason: String(cString: strerror(errno)))
        }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let writeError = errno
        _ = close(fd)
        guard written == bytes.count else {
            _ = unlink(temporary)
            throw .unwritable(
                path: temporary,
                reason: written < 0 ? String(cString: strerror(writeError)) : "short write"
            )
        }
        guard rename(temporary, self.path) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = unlink(temporary)
            throw .unwritable(path: self.path, reason: reason)
        }
    }

    public func read() throws(Failure) -> ClientStatus {
        guard let data = FileManager.default.contents(atPath: self.path) else {
            throw .unreadable(path: self.path, reason: String(cString: strerror(errno)))
        }
        do {
            return try JSONDecoder().decode(ClientStatus.self, from: data)
        } catch {
            throw .malformed(path: self.path)
        }
    }

    /// Removes the file when the client stops, so that `status` does not show a stale state.
    public func remove() {
        _ = unlink(self.path)
    }
}
