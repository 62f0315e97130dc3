import HeadlessClient
import LinuxIO
import NIOPosix
import ServiceLifecycle

/// The client's data plane as a service: ``ClientEventLoop`` on a thread of its own (it blocks in epoll_wait(2)),
/// stopped on graceful shutdown or cancellation through a ``StopRequest``. The loop says goodbye to every gateway
/// before ``run()`` returns; then routes and DNS are restored (`teardown`).
///
/// `@unchecked Sendable`: the loop is not thread-safe; ``run()`` runs once, and only the pool's one thread touches
/// it from the moment it starts until it returns.
final class ClientEventLoopService: Service, @unchecked Sendable {
    private let loop: ClientEventLoop
    private let stop: StopRequest
    private let teardown: () -> Void

    init(loop: ClientEventLoop, teardown: @escaping () -> Void) {
        self.loop = loop
        self.stop = StopRequest(wakeup: loop.wakeupDescriptor)
        self.teardown = teardown
    }

    func run() async throws {
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
