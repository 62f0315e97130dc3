import Synchronization

/// Asks an IO loop on another thread to stop: set by a graceful shutdown or a cancellation, read by the loop
/// (its `shouldStop`) after each wake-up; ``request()`` sets the flag, then writes the loop's wake-up eventfd so
/// that a loop blocked in epoll_wait(2) sees it at once.
public final class StopRequest: Sendable {
    private let requested = Atomic(false)
    private let wakeup: Int32

    /// `wakeup`: the loop's eventfd (``EventLoopDriver/wakeupDescriptor``).
    public init(wakeup: Int32) {
        self.wakeup = wakeup
    }

    public var isRequested: Bool {
        self.requested.load(ordering: .acquiring)
    }

    public func request() {
        self.requested.store(true, ordering: .releasing)
        fz_eventfd_signal(self.wakeup)
    }
}
