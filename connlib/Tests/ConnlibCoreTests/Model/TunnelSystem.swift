/// A tunnel the reference model is checked against: it performs each action (portal changes, the application's
/// packets and queries, restarts and network failures) and reports what the client's application saw, once the
/// action has settled (the connections it started are up or given up, the timers it set have run). It starts in
/// ``TunnelWorld`` with the client and the gateways joined to the portal and no resources.
protocol TunnelSystem {
    mutating func perform(_ action: TunnelAction) -> TunnelObservation

    /// What happened inside, for a failure's message.
    var report: String { get }
}
