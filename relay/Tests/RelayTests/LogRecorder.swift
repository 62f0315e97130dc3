import Logging
import Synchronization

/// Keeps the messages logged at `.error` and above, for one test.
final class LogRecorder: Sendable {
    private let storage = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "xdp-offload-test") { _ in Handler(recorder: self) }
    }

    var errors: [String] {
        self.storage.withLock { $0 }
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            if event.level >= .error {
                self.recorder.storage.withLock { $0.append("\(event.message)") }
            }
        }
    }
}
