import STUN

/// The TURN client's timers and limits.
public enum TURNClientConstants {
    // MARK: Specification

    /// RFC 8656 §12: "a channel binding lasts for 10 minutes unless refreshed".
    public static let channelLifetime: Duration = .seconds(10 * 60)
    /// RFC 8656 §12: a number or peer of an expired binding may not be bound to anything else "until 5 minutes
    /// after the binding expires", so a number is reused at the earliest 15 minutes after its last bind.
    public static let channelReuseDelay: Duration = .seconds(5 * 60)
    /// RFC 8656 §3.5, §18.8: the protocol number of UDP in REQUESTED-TRANSPORT.
    public static let requestedTransportUDP = STUNConstants.requestedTransportUDP
    /// The channel numbers we bind. RFC 8656 §12 allows 0x4000–0x7FFF, but Firezone's relay and snownet treat only a
    /// first byte of 0x40–0x4F as channel data (Firezone's rust/connlib/snownet/src/channel_data.rs), so its clients use 0x4000–0x4FFF.
    public static let channelNumbers = STUNConstants.firezoneClientChannelNumbers

    // MARK: Implementation (Firezone's `rust/connlib/snownet/src/allocation.rs` and `backoff.rs`)

    /// The first retransmission timeout of a request; each further one is 1.5 times the last, so a request is sent
    /// at 0, 1, 2.5 and 4.75 s.
    public static let requestTimeout: Duration = .seconds(1)
    /// A request still unanswered when its next retransmission would be due this long after the first send
    /// (at 8.125 s) is abandoned.
    public static let requestBudget: Duration = .seconds(8)
    /// A liveness probe after the relay list changed waits for one timeout only (Firezone's `Allocation::refresh`).
    public static let probeBudget: Duration = .seconds(1)
    /// BINDING keep-alive interval once the active socket is chosen: most NATs keep an unconfirmed UDP mapping for
    /// 30 s (RFC 4787 §4.3 asks for at least 2 minutes, many do less), so 25 s keeps the path to the relay open.
    /// Seed era: not reset by channel data.
    public static let keepaliveInterval: Duration = .seconds(25)
    /// A bound channel on which data arrived is re-bound once this old, half its lifetime.
    public static let channelRefreshAge: Duration = .seconds(5 * 60)
    /// Channel binds asked for before the allocation exists; the oldest is dropped when more arrive (Firezone
    /// keeps a ring of 100). A peer that still matters asks again with its next packet.
    public static let maximumBufferedBinds = 100
    /// Outstanding requests: two BINDINGs, one ALLOCATE or REFRESH, and a CHANNEL-BIND per new peer. More than this
    /// many at once means the relay is not answering; a refused CHANNEL-BIND is asked for again by the peer's next
    /// packet, so the bound only delays binds and keeps memory per allocation fixed.
    public static let maximumRequestsInFlight = 256
}
