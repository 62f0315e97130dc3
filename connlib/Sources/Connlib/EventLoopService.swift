import LinuxIO
import NIOPosix
import ServiceLifecycle

/// A tunnel's data plane as a service: a ``BlockingEventLoop`` on a thread of its own (it blocks in
/// epoll_wait(2)), stopped on graceful shutdown or cancellation through a ``StopRequest``. The loop says goodbye
/// to every peer before ``run()`` returns, and then `teardown` restores the host (the gateway takes its TUN
/// device down, the client its routes and DNS).
///
/// `@unchecked Sendable`: the loop is not thread-safe; ``run()`` runs once, and only the pool's one thread touches
/// it from the moment it starts until it returns.
public final class EventLoopService<Loop: BlockingEventLoop>: Service, @unchecked Sendable {
    private let loop: Loop
    private let stop: StopRequest
    private let teardown: () -> Void

    public init(loop: Loop, teardown: @escaping () -> Void) {
        self.loop = loop
        self.stop = StopRequest(wakeup: loop.wakeupDescriptor)
        self.teardown = teardown
    }

    public func run() async throws {
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        let stop = self.stop
        do {
            try await withTaskCancellationOrGracefulShutdownHandler {
                try await thread.runIfActive {
                    defer { self.teardown() }
                    try self.loop.run { stop.isRequested }
                }
            } onCancelOrGracefulShutdown: {
                stop.request()
            }
        } catch {
            try? await thread.shutdownGracefully()
            throw error
        }
        try await thread.shutdownGracefully()
    }
}
