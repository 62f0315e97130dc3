/// What an allocation dropped or gave up on, for the caller's metrics and for tests.
public struct AllocationStats: Hashable, Sendable {
    /// Responses to authenticated requests whose MESSAGE-INTEGRITY was missing or wrong (RFC 8489 §9.2.5: discarded
    /// as if never received).
    public var integrityFailures = 0
    /// Responses that matched a request's transaction but not its method or that were not responses.
    public var malformedResponses = 0
    /// 401 or 438 responses naming a realm other than ours (RFC 8489 §9.2.5: a client may refuse a realm).
    public var realmMismatches = 0
    /// 401 or 438 responses that offer the nonce the refused request carried: not retried.
    public var repeatedChallenges = 0
    /// Channel data on a channel that is not bound.
    public var unboundChannelData = 0
    /// Channel binds requested before the allocation existed and pushed out of the full buffer.
    public var bufferedBindsDropped = 0
    /// Channel binds not started: every channel number is in use, or the relay has no address of the peer's family.
    public var channelBindsRefused = 0
    /// Requests not sent because ``TURNClientConstants/maximumRequestsInFlight`` were outstanding.
    public var requestsRefused = 0
    /// Requests whose retransmission budget ran out.
    public var requestsAbandoned = 0

    public init() {}
}
