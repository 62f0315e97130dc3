import Logging
import Synchronization
import Testing

/// A swift-log handler that keeps every record in memory, for a `Logger` handed to the code under test.
///
/// Tests run in parallel, so they never bootstrap the global `LoggingSystem` (STYLE rule 24): each makes its own
/// ``InMemoryLogHandler/Records``, builds loggers from it, and checks what was logged.
public struct InMemoryLogHandler: LogHandler {
    /// One logged line, with its metadata in key order.
    public struct Record: Sendable, Hashable, CustomStringConvertible {
        public var label: String
        public var level: Logger.Level
        public var message: String
        public var metadata: [(key: String, value: String)]

        public static func == (lhs: Record, rhs: Record) -> Bool {
            lhs.label == rhs.label && lhs.level == rhs.level && lhs.message == rhs.message
                && lhs.metadata.elementsEqual(rhs.metadata) { $0.key == $1.key && $0.value == $1.value }
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(self.label)
            hasher.combine(self.level)
            hasher.combine(self.message)
            for (key, value) in self.metadata {
                hasher.combine(key)
                hasher.combine(value)
            }
        }

        public var description: String {
            let metadata = self.metadata.map { " \($0.key)=\($0.value)" }.joined()
            return "\(self.level) \(self.label): \(self.message)\(metadata)"
        }
    }

    /// The records of every logger made from it, in the order they were logged.
    public final class Records: Sendable {
        private let storage = Mutex<[Record]>([])

        public init() {}

        /// A logger whose records land here; `level` is the lowest level kept.
        public func logger(label: String, level: Logger.Level = .trace) -> Logger {
            var logger = Logger(label: label) { label in InMemoryLogHandler(label: label, records: self) }
            logger.logLevel = level
            return logger
        }

        public var all: [Record] {
            self.storage.withLock { $0 }
        }

        /// The records at `.warning` or above.
        public var warningsAndErrors: [Record] {
            self.all.filter { $0.level >= .warning }
        }

        func append(_ record: Record) {
            self.storage.withLock { $0.append(record) }
        }

        /// Records an issue for every warning or error logged so far (`PanicOnErrorEvents` of STYLE rule 27,
        /// extended to warnings); `context` says which run, e.g. a simulation's report.
        public func expectNoWarningsOrErrors(
            _ context: @autoclosure () -> String = "",
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let unexpected = self.warningsAndErrors
            guard !unexpected.isEmpty else {
                return
            }
            let lines = unexpected.map { "\($0)\n" }.joined()
            Issue.record(
                Comment(rawValue: "\(unexpected.count) warning(s) or error(s) logged:\n\(lines)\(context())"),
                sourceLocation: sourceLocation
            )
        }
    }

    public let label: String
    public let records: Records
    public var logLevel: Logger.Level = .trace
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String, records: Records) {
        self.label = label
        self.records = records
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = self.metadata
        if let provided = self.metadataProvider?.get() {
            merged.merge(provided) { _, new in new }
        }
        if let metadata = event.metadata {
            merged.merge(metadata) { _, new in new }
        }
        // Sorted: the order of a Dictionary must never reach what a test compares or prints.
        let sorted = merged.map { (key: $0.key, value: "\($0.value)") }.sorted { $0.key < $1.key }
        self.records.append(
            Record(label: self.label, level: event.level, message: "\(event.message)", metadata: sorted)
        )
    }
}
