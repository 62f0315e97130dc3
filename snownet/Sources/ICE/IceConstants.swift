import FirezoneTime

/// The numbers of the ICE agent: RFC 8445 values, str0m's choices where Firezone inherits them, and the limits that
/// keep its state bounded whatever a peer sends. The connection timers are in ``ConnectionTiming``.
public enum IceConstants {
    // MARK: Specification

    /// RFC 8445 §5.1.2.1: Firezone uses one component (RTP and RTCP multiplexed), number 1.
    static let component: UInt32 = 1
    /// RFC 8839 §5.1: `foundation = 1*32ice-char`.
    static let maximumFoundationLength = 32
    /// RFC 8445 §6.1.2.5: "The default value for this limit SHOULD be 100" candidate pairs per checklist.
    public static let maximumCandidatePairs = 100
    /// RFC 8445 §5.1.2.1: the local preference is 16 bits; str0m splits it into four bands of this width.
    static let localPreferenceBandWidth: UInt32 = 16_384

    // MARK: Implementation (str0m at 44ab8e39, the ICE agent of Firezone 685acdac3a)

    /// Type preferences of UDP candidates (str0m `Candidate::do_prio`).
    static let hostTypePreference: UInt32 = 126
    static let peerReflexiveTypePreference: UInt32 = 110
    static let serverReflexiveTypePreference: UInt32 = 100
    static let relayedTypePreference: UInt32 = 2
    /// str0m `default_local_preference`: a relayed candidate whose TURN socket is of the other IP family loses this
    /// much local preference, so that a relay within one family is preferred over one that translates.
    static let crossFamilyRelayPenalty = 1_000
    /// Firezone's initial RTO for connectivity checks (rust/connlib/snownet/src/node.rs, `IceConfig`); doubled
    /// up to ``ConnectionTiming/activeCheckInterval``.
    public static let initialRetransmissionTimeout: Duration = .milliseconds(250)

    // MARK: Limits against a flood

    /// Remote candidates, signalled and peer-reflexive together. Firezone signals host, server-reflexive and
    /// relayed candidates of two families from at most two relays: about a dozen.
    public static let maximumRemoteCandidates = 32
    /// Local peer-reflexive candidates learned from responses (RFC 8445 §7.2.5.3.1), one per NAT mapping seen.
    public static let maximumPeerReflexiveLocalCandidates = 8
    /// Local candidates the Node adds: hosts, relays and server-reflexive ones of every interface and relay.
    public static let maximumLocalCandidates = 32
    /// Outstanding STUN transactions we remember to match responses; the oldest is forgotten first. 100 pairs
    /// checked at once leave about two transactions each, and a late response to a forgotten one is ignored: the
    /// next transmission of the check is answered as well.
    public static let maximumTransactions = 256
    /// How long an unanswered transaction is remembered: RFC 8489 §6.2.1's client gives up after 39.5 s with its
    /// default timers (RTO 500 ms, Rc 7, Rm 16); a response later than that answers nothing.
    public static let transactionLifetime: Duration = .milliseconds(39_500)
}

extension IceConstants {
    /// Bytes reserved for one check or response: header, USERNAME of two portal ufrags, PRIORITY, the role, USE-
    /// CANDIDATE, MESSAGE-INTEGRITY and FINGERPRINT fit with room to spare.
    static let checkCapacity = 160
}
