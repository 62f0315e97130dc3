import FirezoneCrypto
import LinuxIO

/// A tunnel event loop that blocks its thread in epoll_wait(2) until a stop is requested: what
/// ``EventLoopService`` runs. ``GatewayEventLoop`` and the headless client's `ClientEventLoop` are the two, each
/// the handler of the driver its ``TunnelIO`` holds; what they share lives here, and each keeps its own close.
public protocol BlockingEventLoop: EventLoopHandler {
    /// What the loop hands its driver; the driver runs the loop.
    var io: TunnelIO { get }

    /// Closes the tunnel's connections gracefully (Firezone #10400, #10401) once the driver stopped or failed:
    /// ``run(until:)`` calls it on either path, before it returns or throws.
    func closeTunnel()
}

extension BlockingEventLoop {
    /// The loop's eventfd: a ``StopRequest`` writes it so that a blocked epoll_wait(2) returns and `shouldStop`
    /// is asked again.
    public var wakeupDescriptor: Int32 {
        self.io.driver.wakeupDescriptor
    }

    /// Runs until `shouldStop` returns true or a turn fails, then closes the tunnel (``closeTunnel()``).
    public func run(until shouldStop: () -> Bool) throws(SystemCallError) {
        defer { self.closeTunnel() }
        try self.io.driver.run(self, until: shouldStop)
    }

    /// The seed of a tunnel state's randomness, drawn from the system's generator: the shell's to draw, since
    /// the state is sans-IO.
    package static func randomSeed() -> Bytes32 {
        var generator = SystemRandomNumberGenerator()
        var seed = [UInt8](repeating: 0, count: Bytes32.count)
        for index in seed.indices {
            seed[index] = UInt8.random(in: .min ... .max, using: &generator)
        }
        guard let bytes = Bytes32(seed) else {
            preconditionFailure("a seed of Bytes32.count bytes")
        }
        return bytes
    }
}
