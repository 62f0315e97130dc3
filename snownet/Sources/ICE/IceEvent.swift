/// What the agent reports to the Node, in the order it happened.
public enum IceEvent: Hashable, Sendable {
    /// The pair to send application data on from now: sent from `local.base` to `remote.address`. Reported again
    /// whenever the nominated pair changes (re-nomination).
    case nominated(local: Candidate, remote: Candidate)
    case stateChanged(IceConnectionState)
}
