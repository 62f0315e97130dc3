import Glibc
import LinuxIO

/// Asks the client's loop to start over after a network change (SIGHUP, or the network-change monitor; Firezone's
/// rust/headless-client/src/main.rs calls `session.reset` on both): ``request()`` makes ``descriptor`` readable,
/// from any thread or a signal handler, and the loop, which registered it, resets its state.
public final class ResetRequest: Sendable {
    public let descriptor: Int32

    public init() throws(SystemCallError) {
        let fd = fz_eventfd_create()
        guard fd >= 0 else {
            throw SystemCallError(operation: "eventfd", errno: -fd)
        }
        self.descriptor = fd
    }

    deinit {
        _ = close(self.descriptor)
    }

    public func request() {
        fz_eventfd_signal(self.descriptor)
    }

    /// Clears the request; several requests before the loop looked count as one.
    func acknowledge() {
        fz_eventfd_drain(self.descriptor)
    }
}
