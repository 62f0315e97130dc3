/// Timers and limits of the portal connection.
///
/// The values of Firezone's phoenix-channel crate at commit 685acdac3a (September 2025, the version whose portal
/// protocol we speak; rust/connlib/phoenix-channel/src/lib.rs), with one addition: heartbeat replies are tracked.
public enum PhoenixConstants {
    // MARK: Firezone 685acdac3a

    /// A join without a reply after this long is abandoned: the socket is closed and the connection retried
    /// (Firezone #10130).
    public static let joinTimeout: Duration = .seconds(5)
    /// A heartbeat goes out this long after the socket opened and after each heartbeat. A heartbeat still
    /// unanswered when the next one is due means the socket is dead, so a connection that silently stopped
    /// delivering is replaced within two intervals; Firezone 685acdac3a does not look at the replies.
    ///
    /// Firezone 685acdac3a restarts the interval on every frame it sends, so an idle session is identical, but
    /// there steady outbound traffic (candidates, `create_flow`) postpones the heartbeat indefinitely. Writes into a
    /// dead TCP connection keep succeeding until the kernel gives up on retransmissions (about 15 minutes with
    /// Linux's default `tcp_retries2` of 15, Documentation/networking/ip-sysctl.rst), so here the interval ignores
    /// other frames: the check keeps running, at the cost of at most one heartbeat per interval that a busy
    /// session would not have sent.
    public static let heartbeatInterval: Duration = .seconds(30)
    /// The `backoff` crate's `ExponentialBackoff` as Firezone 685acdac3a configures it: the first retry goes out at
    /// once, then 500 ms, growing ×1.5 per retry, each randomised by ±50 %, the interval capped at 60 s.
    public static let initialReconnectInterval: Duration = .milliseconds(500)
    public static let reconnectMultiplier = 1.5
    public static let reconnectRandomization = 0.5
    public static let maximumReconnectInterval: Duration = .seconds(60)
    /// How long gateways and relays keep retrying an unreachable portal before they give up.
    public static let defaultPartitionTime: Duration = .seconds(15 * 60)
    /// Messages kept while the channel is not joined; sent in order after the join reply.
    public static let outboundQueueCapacity = 32

    // MARK: Implementation

    /// The TCP connect of one attempt (as Firezone 685acdac3a: 5 s around the connect).
    public static let tcpConnectTimeout: Duration = .seconds(5)
    /// A whole attempt: TCP, TLS and the WebSocket upgrade. Firezone 685acdac3a bounds only the TCP connect; a
    /// portal that accepts the connection and then never answers the upgrade must not stall us forever (later
    /// Firezone versions allow 15 s too).
    public static let connectAttemptTimeout: Duration = .seconds(15)
}
