import LinuxIO
import NIOPosix
import Relay
import ServiceLifecycle

/// The relay's IO loop as a service: it runs ``RelayEventLoop`` on a thread of its own (the loop blocks in
/// epoll_wait(2)) and stops it on graceful shutdown or cancellation by setting a flag and waking its eventfd.
/// The XDP offload, if any, is detached once the loop has stopped.
///
/// `@unchecked Sendable`: `loop` and `offload` are not thread-safe; ``run()`` runs once, and only the pool's one
/// thread touches them, from the moment the loop starts until it returns.
final class RelayEventLoopService: Service, @unchecked Sendable {
    private let loop: RelayEventLoop
    private let offload: XDPOffload?
    private let stop: StopRequest

    init(loop: RelayEventLoop, offload: XDPOffload?) {
        self.loop = loop
        self.offload = offload
        self.stop = StopRequest(wakeup: loop.wakeupDescriptor)
    }

    func run() async throws {
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        let stop = self.stop
        do {
            try await withTaskCancellationOrGracefulShutdownHandler {
                try await thread.runIfActive {
                    self.loop.run { stop.isRequested }
                    self.offload?.detach()
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
