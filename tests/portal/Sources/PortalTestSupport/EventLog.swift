import PhoenixCore
import PortalMessages
import Synchronization
import Testing

/// Records a channel's events from a background task, so a test can wait for the one it expects.
package final class EventLog<Inbound: PortalEvents>: Sendable {
    private final class Storage: Sendable {
        let events = Mutex<[PhoenixEvent<Inbound>]>([])
        let finished = Mutex(false)
    }

    private let storage = Storage()
    private let task: Task<Void, Never>

    package init(_ stream: AsyncStream<PhoenixEvent<Inbound>>) {
        let storage = self.storage
        self.task = Task {
            for await event in stream {
                storage.events.withLock { $0.append(event) }
            }
            storage.finished.withLock { $0 = true }
        }
    }

    deinit {
        self.task.cancel()
    }

    package var all: [PhoenixEvent<Inbound>] {
        self.storage.events.withLock { $0 }
    }

    package var isFinished: Bool {
        self.storage.finished.withLock { $0 }
    }

    /// Waits until an event not yet consumed matches, consumes everything up to it and returns it.
    package func next<T>(
        within timeout: Duration = .seconds(10),
        sourceLocation: SourceLocation = #_sourceLocation,
        _ match: @escaping (PhoenixEvent<Inbound>) -> T?
    ) async throws -> T {
        try await self.poll(within: timeout, waitingFor: "a matching event", sourceLocation: sourceLocation) {
            self.storage.events.withLock { events in
                for (index, event) in events.enumerated() {
                    if let value = match(event) {
                        events.removeFirst(index + 1)
                        return value
                    }
                }
                return nil
            }
        }
    }

    /// The first event not yet consumed that matches, consuming everything up to it; nil at once if none has
    /// arrived. For waiting on whichever of several channels hears an event first.
    package func take<T>(_ match: (PhoenixEvent<Inbound>) -> T?) -> T? {
        self.storage.events.withLock { events in
            for (index, event) in events.enumerated() {
                if let value = match(event) {
                    events.removeFirst(index + 1)
                    return value
                }
            }
            return nil
        }
    }

    /// Waits until an event not yet consumed is the marker; consumes everything up to it and returns the events
    /// before it.
    package func eventsBefore(
        within timeout: Duration = .seconds(10),
        sourceLocation: SourceLocation = #_sourceLocation,
        _ isMarker: @escaping (PhoenixEvent<Inbound>) -> Bool
    ) async throws -> [PhoenixEvent<Inbound>] {
        try await self.poll(within: timeout, waitingFor: "the marker event", sourceLocation: sourceLocation) {
            self.storage.events.withLock { events in
                guard let index = events.firstIndex(where: isMarker) else {
                    return nil
                }
                defer { events.removeFirst(index + 1) }
                return Array(events[..<index])
            }
        }
    }

    /// Waits until the stream has ended and returns the events not yet consumed.
    package func remainderAfterTheEnd(
        within timeout: Duration = .seconds(10),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [PhoenixEvent<Inbound>] {
        try await self.poll(within: timeout, waitingFor: "the end of the stream", sourceLocation: sourceLocation) {
            self.isFinished ? self.all : nil
        }
    }

    private func poll<T>(
        within timeout: Duration,
        waitingFor expectation: String,
        sourceLocation: SourceLocation,
        _ attempt: () -> T?
    ) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let found = attempt() {
                return found
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("no \(expectation) within \(timeout); seen: \(self.all)", sourceLocation: sourceLocation)
        throw TimedOut()
    }
}

package struct TimedOut: Error {
    package init() {}
}

extension PhoenixEvent {
    package var message: Inbound? {
        if case .message(let message) = self { message } else { nil }
    }
}
