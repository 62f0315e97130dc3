/// Every limit the relay core enforces against hostile or careless clients, with its default and why.
///
/// The defaults suit a public relay on one host; each is a stored property so an operator (or a test) can change
/// it. A request refused by a limit gets the error RFC 8656 names for it, and a dropped reply is counted in
/// ``RelayStats``.
public struct RelayLimits: Sendable, Equatable {
    /// Standalone relays only: allocations, and ports reserved by EVEN-PORT, that one username may hold at once.
    /// The one past it gets 486 Allocation Quota Reached (RFC 8656 §7.2). 16 lets a WebRTC application or
    /// coturn's `turnutils_uclient -m 4` open its several allocations (two per session with RTCP) with one
    /// credential.
    public var allocationsPerUsername: Int = 16
    /// Channels (bound, or lapsed and held for the reuse delay) one allocation may hold; past it a new binding
    /// gets 508 Insufficient Capacity. A gateway binds one channel per client it reaches through this relay.
    public var channelBindingsPerAllocation: Int = 4_096
    /// Channels the relay holds in total; past it a new binding gets 508. Below the 65,536 bindings each XDP map
    /// holds per family combination (`RELAY_XDP_MAXIMUM_BINDINGS` in `relay_xdp.h`), so every bound channel fits
    /// in the kernel datapath.
    public var channelBindings: Int = 60_000
    /// How long a nonce stays good (RFC 8489 §9.2.2); an older one gets 438 Stale Nonce and a fresh nonce.
    /// coturn's default `stale-nonce` is the same 10 minutes.
    public var nonceLifetime: Duration = .seconds(600)
    /// Replies to unauthenticated requests (BINDING, and the 401, 438 and 400 answers that carry no
    /// MESSAGE-INTEGRITY) one source prefix earns per second, beyond its burst. Generous enough for an office of
    /// a few hundred clients behind one NAT, each refreshing its server-reflexive address every 25 seconds.
    public var unauthenticatedRepliesPerSecond: Int = 64
    /// The replies a prefix may get at once before the rate applies.
    public var unauthenticatedReplyBurst: Int = 256
    /// Source prefixes whose reply budget the relay remembers; the least recently seen one is forgotten for a new
    /// one. Bounds the rate limiter's memory at a few hundred kilobytes whatever the traffic.
    public var rateLimitedPrefixes: Int = 16_384

    public init() {}
}
