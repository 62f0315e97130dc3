/// How often a connection proves it is alive, and how soon a dead one is given up: every timer of Firezone's
/// low-power idle connections (the change that closed Firezone #6778) in one place, so that tuning them is a
/// one-line change.
///
/// The reasoning, from that change: over UDP the only way to notice a broken path is for both sides to keep
/// sending messages and acknowledgements; ICE uses STUN binding requests for this. Detecting a broken path quickly
/// matters only while the user is sending traffic (a dead connection then blocks them until a new one is set up);
/// when nothing flows, noticing later costs nothing, while frequent checks keep mobile CPUs awake and drain batteries.
/// So a connection checks its path often while it carries application traffic and rarely once idle, and goes back
/// to the frequent checks the moment traffic appears again, so that a path that died during the idle period is
/// still noticed within the active timeout.
public enum ConnectionTiming {
    /// While application traffic flows, the nominated pair is checked this often.
    public static let activeCheckInterval: Duration = .milliseconds(1_500)
    /// While application traffic flows, this many consecutive unanswered checks break the connection: the first
    /// unanswered check plus `activeCheckInterval × (activeMaximumMissedResponses − 1)` is about 10 s, the lag
    /// between a path breaking and a new connection being set up for the next packet.
    public static let activeMaximumMissedResponses = 8
    /// A connection with no application traffic either way for this long is idle.
    public static let idleAfter: Duration = .seconds(10)
    /// On an idle connection the nominated pair is checked this often. RFC 4787 REQ-5 (§12) asks NATs to keep a
    /// UDP mapping for at least 2 minutes without traffic, and Linux conntrack follows it
    /// (`nf_conntrack_udp_timeout_stream`); the WireGuard keep-alive below refreshes the mapping in between.
    public static let idleCheckInterval: Duration = .seconds(60)
    /// On an idle connection this many consecutive unanswered checks break it: at most about 4 minutes without a
    /// path while nobody uses it.
    public static let idleMaximumMissedResponses = 4
    /// Without application traffic, the client sends a WireGuard keep-alive this often (the default persistent
    /// keep-alive of the WireGuard kernel module). It keeps the NAT mappings of the path open; the STUN checks exist
    /// besides it because a keep-alive is never answered, so it cannot tell a dead path from a quiet one.
    public static let keepaliveInterval: Duration = .seconds(25)

    /// How long after the first unanswered check a connection is given up, for the given interval and budget.
    public static func failureTimeout(checkInterval: Duration, maximumMissedResponses: Int) -> Duration {
        checkInterval * (maximumMissedResponses - 1)
    }
}
