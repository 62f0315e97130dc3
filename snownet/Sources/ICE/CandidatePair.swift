import FirezoneTime
import IPPacket

/// A local and a remote candidate checked together (RFC 8445 §6.1.2), with its check schedule.
struct CandidatePair {
    /// RFC 8445 §6.1.2.6 pair states. Frozen is left out: with one data stream and every foundation unfrozen at
    /// once (Firezone sets str0m's timing advance to 0), a pair is waiting from the moment it is formed.
    enum State: Hashable {
        case waiting
        case inProgress
        case succeeded
        case failed
    }

    /// Identity for transactions, which outlive pruning and re-sorting.
    let id: UInt64
    /// The local candidate, already replaced by its base if server-reflexive (RFC 8445 §6.1.2.4): a host or a
    /// relayed candidate.
    var local: Candidate
    var remote: Candidate
    var priority: UInt64
    var state: State = .waiting
    /// RFC 8445 §7.2.5.3.2: the local candidate of the valid pair this pair's check produced, whose address is what
    /// the peer saw (a server-reflexive or peer-reflexive candidate behind a NAT).
    var validLocal: Candidate?

    /// Controlling: a check with USE-CANDIDATE on this pair succeeded. Controlled: the peer sent one.
    var nominated = false
    /// Controlling: checks on this pair carry USE-CANDIDATE until one succeeds (RFC 8445 §8.1.1).
    var nominating = false

    /// Transmissions of the current check (connectivity or nomination) and when the next one is due.
    var transmissions = 0
    var retransmissionTimeout: Duration = IceConstants.initialRetransmissionTimeout
    var nextTransmissionAt: Instant?
    /// When this pair last sent a check, for the keep-alive interval of the nominated pair.
    var lastTransmissionAt: Instant?
    /// The first check of the nominated pair since its last answer, for the failure timeout.
    var firstUnansweredAt: Instant?

    init(id: UInt64, local: Candidate, remote: Candidate, role: IceRole) {
        self.id = id
        self.local = local
        self.remote = remote
        self.priority = Self.priority(local: local, remote: remote, role: role)
    }

    /// Pairs are the same check when their local bases and remote addresses are (RFC 8445 §6.1.2.4 redundancy).
    func matches(localBase: IPSocketAddress, remote: IPSocketAddress) -> Bool {
        self.local.base == localBase && self.remote.address == remote
    }

    /// RFC 8445 §6.1.2.3: `2^32 × MIN(G,D) + 2 × MAX(G,D) + (G > D ? 1 : 0)`, G the controlling agent's candidate
    /// priority and D the controlled one's, so both agents order the pairs alike.
    static func priority(local: Candidate, remote: Candidate, role: IceRole) -> UInt64 {
        let (controlling, controlled) =
            switch role {
            case .controlling: (UInt64(local.priority), UInt64(remote.priority))
            case .controlled: (UInt64(remote.priority), UInt64(local.priority))
            }
        return (min(controlling, controlled) << 32) + 2 * max(controlling, controlled)
            + (controlling > controlled ? 1 : 0)
    }

    /// Restarts the check schedule: the next transmission is due at once.
    mutating func scheduleCheck(now: Instant) {
        self.transmissions = 0
        self.retransmissionTimeout = IceConstants.initialRetransmissionTimeout
        self.nextTransmissionAt = now
    }
}
