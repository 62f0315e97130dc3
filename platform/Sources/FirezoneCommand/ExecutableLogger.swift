import Logging

/// The logger an executable hands every part of itself: lines to standard error and, when `LOG_DIR` names a
/// directory, appended to `<directory>/<label>.log` too; at the level its `RUST_LOG` directives set
/// (``FirezoneOptions/OptionReader/logLevel(for:)``).
///
/// No `LoggingSystem.bootstrap`: every library of ours takes its logger as a parameter, so the process-wide
/// factory stays swift-log's default and tests keep their own.
public enum ExecutableLogger {
    public static func make(label: String, level: Logger.Level, directory: String? = nil) -> Logger {
        let file = directory.flatMap { FileLogHandler.open(directory: $0, name: label) }
        var logger = Logger(label: label) { label in
            guard let file else {
                return StreamLogHandler.standardError(label: label)
            }
            return MultiplexLogHandler([
                StreamLogHandler.standardError(label: label), FileLogHandler(label: label, fd: file),
            ])
        }
        logger.logLevel = level
        if let directory, file == nil {
            logger.warning("Cannot open the log file in \(directory); logging to standard error only")
        }
        return logger
    }
}
