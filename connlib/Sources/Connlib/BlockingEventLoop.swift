import LinuxIO

/// A tunnel event loop that blocks its thread in epoll_wait(2) until a stop is requested: what
/// ``EventLoopService`` runs. ``GatewayEventLoop`` and the headless client's `ClientEventLoop` are the two.
public protocol BlockingEventLoop: AnyObject {
    /// The loop's eventfd: a ``StopRequest`` writes it so that a blocked epoll_wait(2) returns and `shouldStop`
    /// is asked again.
    var wakeupDescriptor: Int32 { get }

    /// Runs until `shouldStop` returns true, then closes the tunnel's connections gracefully (Firezone #10400,
    /// #10401) before it returns.
    func run(until shouldStop: () -> Bool) throws(SystemCallError)
}
