/// The client state's limits and timers (Firezone's rust/connlib/tunnel/src/client.rs at the seed era).
public enum ClientConstants {
    /// Packets kept per resource while its flow is requested (connlib's pending-flow buffer).
    public static let flowBufferCapacity = 128
    /// At most one `create_flow` per resource in this time: a burst of packets to an unconnected resource asks once.
    public static let flowRequestInterval: Duration = .seconds(2)
    /// Recently connected gateways the client tells the portal about in `create_flow`, so that it reuses one
    /// (connlib's LRU of 100).
    public static let recentGatewaysCapacity = 100
    /// DNS queries sent through the tunnel whose answers are still to be turned back into the sentinel's.
    public static let tunnelledQueryCapacity = 1024
}
