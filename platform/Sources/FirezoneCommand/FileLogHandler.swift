import Glibc
import Logging

/// Writes log lines to a file (`LOG_DIR`), appended, one write(2) per line so that lines never interleave.
///
/// `@unchecked Sendable`: the descriptor is opened once and only written to; write(2) with O_APPEND is atomic per
/// call for regular files.
struct FileLogHandler: LogHandler, @unchecked Sendable {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    private let label: String
    private let fd: Int32

    /// Opens (creating) `directory`/`name`.log; nil when it cannot.
    static func open(directory: String, name: String) -> Int32? {
        _ = mkdir(directory, 0o755)
        let fd = Glibc.open(
            "\(directory)/\(name).log",
            O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
            0o640
        )
        return fd >= 0 ? fd : nil
    }

    init(label: String, fd: Int32) {
        self.label = label
        self.fd = fd
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(
        level: Logger.Level,
        message: Logger.Message,
        metadata: Logger.Metadata?,
        source: String,
        file: String,
        function: String,
        line: UInt
    ) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var all = self.metadata
        if let metadata {
            all.merge(metadata) { $1 }
        }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        var text = "\(now.tv_sec) \(level) \(self.label): \(message)"
        if !fields.isEmpty {
            text += " \(fields)"
        }
        var bytes = Array((text + "\n").utf8)
        _ = Glibc.write(self.fd, &bytes, bytes.count)
    }
}
