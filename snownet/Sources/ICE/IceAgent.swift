import DequeModule
import FirezoneCrypto
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import STUN

/// A sans-IO ICE agent (RFC 8445) for one Firezone connection: one data stream, one component, UDP, full ICE with
/// regular nomination, in the manner of str0m's `IceAgent`. Time, randomness and datagrams are passed in; STUN
/// messages to send, events and the next deadline are polled.
///
/// The agent checks every candidate pair at once (Firezone sets str0m's timing advance to 0, so there is no Ta
/// pacing), the controlling side nominates the best pair that succeeded and re-nominates when a better one succeeds
/// later, and both sides then check the nominated pair at the interval of ``ConnectionTiming`` (active or idle).
public struct IceAgent {
    public private(set) var role: IceRole
    public private(set) var state: IceConnectionState = .new
    /// In the order added, with the priorities ``addLocalCandidate(_:)`` gave them, and the peer-reflexive
    /// candidates learned from responses after them.
    public private(set) var localCandidates: [Candidate] = []
    /// In the order signalled or learned.
    public private(set) var remoteCandidates: [Candidate] = []

    private let localCredentials: IceCredentials
    private let remoteCredentials: IceCredentials
    private let localKey: [UInt8]
    private let remoteKey: [UInt8]
    /// RFC 8445 §7.1.3: compared with the peer's to resolve a role conflict.
    let tieBreaker: UInt64
    private var generator: KeyStream
    private let logger: Logger

    /// Highest priority first; ties in address order, so that the check order never depends on hashing.
    private(set) var pairs: [CandidatePair] = []
    private var nextPairID: UInt64 = 0
    /// The pair application data goes on.
    private var selectedPairID: UInt64?
    private var idle = false
    private var lastNow: Instant?

    /// Lookups only; the eviction order is `transactionOrder`.
    private(set) var transactions: [TransactionID: IceTransaction] = [:]
    private var transactionOrder: Deque<TransactionID> = []
    private var transmits: Deque<IceTransmit> = []
    private var events: Deque<IceEvent> = []

    /// `seed` gives the tie-breaker and the transaction IDs: the Node draws it from a secure source, tests fix it.
    public init(role: IceRole, local: IceCredentials, remote: IceCredentials, seed: UInt64, logger: Logger) {
        self.role = role
        self.localCredentials = local
        self.remoteCredentials = remote
        self.localKey = local.integrityKey
        self.remoteKey = remote.integrityKey
        var generator = KeyStream(seed: seed)
        self.tieBreaker = generator.next()
        self.generator = generator
        self.logger = logger
    }

    /// The pair to send application data on: from `local.base` to `remote.address`.
    public var nominatedPair: (local: Candidate, remote: Candidate)? {
        guard let index = self.selectedIndex else {
            return nil
        }
        return (self.pairs[index].validLocal ?? self.pairs[index].local, self.pairs[index].remote)
    }

    // MARK: Candidates

    /// Adds one of our candidates and pairs it with every remote candidate of its IP family. Returns the candidate
    /// with its final priority and foundation (str0m's local-preference rules, see ``Candidate``), which is what to
    /// signal; nil when it is redundant (RFC 8445 §5.1.3: same address and base as one we have, of at least its
    /// priority), a peer-reflexive one (those are learned, not added), or beyond ``IceConstants/maximumLocalCandidates``.
    public mutating func addLocalCandidate(_ candidate: Candidate) -> Candidate? {
        guard candidate.kind != .peerReflexive,
            candidate.address.address.version == candidate.base.address.version
        else {
            self.logger.debug("ICE: rejecting local candidate \(candidate)")
            return nil
        }
        let version = candidate.address.address.version
        let sameKind = self.localCandidates.count {
            $0.kind == candidate.kind && $0.address.address.version == version
        }
        let added = Candidate(
            kind: candidate.kind,
            address: candidate.address,
            base: candidate.base,
            relayClientSocket: candidate.relayClientSocket,
            localPreference: Candidate.localPreference(
                kind: candidate.kind,
                address: candidate.address,
                relayClientSocket: candidate.relayClientSocket,
                sameKind: sameKind
            )
        )
        if let existing = self.localCandidates.firstIndex(where: {
            $0.address == added.address && $0.base == added.base
        }) {
            guard self.localCandidates[existing].priority < added.priority else {
                self.logger.debug("ICE: redundant local candidate \(added)")
                return nil
            }
            self.localCandidates.remove(at: existing)
        }
        guard self.localCandidates.count < IceConstants.maximumLocalCandidates else {
            self.logger.debug("ICE: too many local candidates, ignoring \(added)")
            return nil
        }
        self.localCandidates.append(added)
        self.logger.debug("ICE: local candidate \(added)")
        if let local = self.pairableLocal(for: added) {
            for remote in self.remoteCandidates {
                self.addPair(local: local, remote: remote)
            }
        }
        self.updateSelectionAndState()
        return added
    }

    /// Removes one of our candidates (same kind, address and base; the priority is not compared) and the pairs that
    /// only it could send on.
    public mutating func invalidateLocalCandidate(_ candidate: Candidate) {
        guard let index = self.localCandidates.firstIndex(where: { $0.key == candidate.key }) else {
            return
        }
        self.logger.debug("ICE: invalidated local candidate \(self.localCandidates[index])")
        self.localCandidates.remove(at: index)
        let bases = self.localCandidates.filter { $0.kind != .peerReflexive }.map(\.base)
        self.localCandidates.removeAll { $0.kind == .peerReflexive && !bases.contains($0.base) }
        self.removePairs { !bases.contains($0.local.base) }
        self.updateSelectionAndState()
    }

    /// Adds a candidate the peer signalled and pairs it with our candidates of its IP family. Its checks are due at
    /// once (``pollTimeout()`` returns `now`) and go out on the next ``handleTimeout(now:)``, so that a batch of
    /// candidates added in any order is checked in pair-priority order. A candidate at the address of a
    /// peer-reflexive one replaces it (the peer told us what we had guessed).
    public mutating func addRemoteCandidate(_ candidate: Candidate, now: Instant) {
        self.lastNow = now
        if let existing = self.remoteCandidates.firstIndex(where: { $0.address == candidate.address }) {
            if self.remoteCandidates[existing].kind == .peerReflexive && candidate.kind != .peerReflexive {
                self.remoteCandidates[existing] = candidate
                for index in self.pairs.indices where self.pairs[index].remote.address == candidate.address {
                    self.pairs[index].remote = candidate
                    self.pairs[index].priority = CandidatePair.priority(
                        local: self.pairs[index].local,
                        remote: candidate,
                        role: self.role
                    )
                }
                self.sortPairs()
            }
            return
        }
        guard self.remoteCandidates.count < IceConstants.maximumRemoteCandidates else {
            self.logger.debug("ICE: too many remote candidates, ignoring \(candidate)")
            return
        }
        self.remoteCandidates.append(candidate)
        self.logger.debug("ICE: remote candidate \(candidate)")
        for local in self.localCandidates {
            if let pairable = self.pairableLocal(for: local) {
                self.addPair(local: pairable, remote: candidate)
            }
        }
        self.updateSelectionAndState()
    }

    /// Removes a remote candidate (by address) and its pairs.
    public mutating func invalidateRemoteCandidate(_ candidate: Candidate, now: Instant) {
        self.lastNow = now
        guard let index = self.remoteCandidates.firstIndex(where: { $0.address == candidate.address }) else {
            return
        }
        self.logger.debug("ICE: invalidated remote candidate \(self.remoteCandidates[index])")
        self.remoteCandidates.remove(at: index)
        self.removePairs { $0.remote.address == candidate.address }
        self.updateSelectionAndState()
    }

    // MARK: STUN

    /// Whether `message` is for this agent: a binding request whose USERNAME is `<our ufrag>:<their ufrag>`
    /// (RFC 8445 §7.2.2), or a response to a check we sent.
    public func accepts(_ message: STUNMessage) -> Bool {
        guard message.type.method == .binding else {
            return false
        }
        switch message.type.class {
        case .request:
            return message.username == self.inboundUsername
        case .successResponse, .errorResponse:
            return self.transactions[message.transactionID] != nil
        case .indication:
            return false
        }
    }

    /// Handles a STUN message that arrived from `source` on our base `destination` (a host socket, or our relayed
    /// address when the Node unwrapped it from TURN channel data).
    public mutating func handleSTUN(
        _ message: STUNMessage,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        self.lastNow = now
        guard message.type.method == .binding else {
            return
        }
        switch message.type.class {
        case .request:
            self.handleRequest(message, from: source, to: destination, now: now)
        case .successResponse, .errorResponse:
            self.handleResponse(message, from: source, to: destination, now: now)
        case .indication:
            // RFC 8445 §11: Binding indications serve as keep-alives and are not answered.
            break
        }
        self.process(now: now)
    }

    // MARK: Time

    /// Idle connections check their nominated pair every ``ConnectionTiming/idleCheckInterval`` and give up after
    /// ``ConnectionTiming/idleMaximumMissedResponses`` unanswered checks; active ones use the active values, at
    /// once: a check is due now if the last one is older than the active interval.
    public mutating func setIdle(_ idle: Bool, now: Instant) {
        self.lastNow = now
        if idle != self.idle {
            self.idle = idle
            // Back from idle, the active failure timeout counts from the next check: a response lost during the
            // idle period says little about the path now.
            if !idle, let index = self.selectedIndex {
                self.pairs[index].firstUnansweredAt = nil
            }
        }
        self.process(now: now)
    }

    public mutating func handleTimeout(now: Instant) {
        self.process(now: now)
    }

    /// When ``handleTimeout(now:)`` next has work: a check or retransmission due, or the failure timeout of the
    /// nominated pair. Never earlier than the last `now`.
    public func pollTimeout() -> Instant? {
        let now = self.lastNow ?? .zero
        var earliest: Instant?
        func consider(_ deadline: Instant?) {
            if let deadline, earliest.map({ deadline < $0 }) ?? true {
                earliest = deadline
            }
        }
        for pair in self.pairs {
            if pair.id == self.selectedPairID {
                consider(pair.lastTransmissionAt.map { $0 + self.checkInterval } ?? now)
                consider(pair.firstUnansweredAt.map { $0 + self.failureTimeout })
                continue
            }
            switch pair.state {
            case .waiting:
                consider(now)
            case .inProgress:
                consider(pair.nextTransmissionAt)
            case .succeeded:
                consider(pair.nominating ? pair.nextTransmissionAt : nil)
            case .failed:
                break
            }
        }
        if self.nominationCandidateIndex != nil {
            consider(now)
        }
        return earliest.map { max($0, now) }
    }

    // The queues give their storage back once drained: an idle agent sends a check a minute, and a gateway holds
    // thousands of agents.

    public mutating func pollTransmit() -> IceTransmit? {
        defer {
            if self.transmits.isEmpty {
                self.transmits = []
            }
        }
        return self.transmits.popFirst()
    }

    public mutating func pollEvent() -> IceEvent? {
        defer {
            if self.events.isEmpty {
                self.events = []
            }
        }
        return self.events.popFirst()
    }

    // MARK: Checks

    private var inboundUsername: String {
        "\(self.localCredentials.ufrag):\(self.remoteCredentials.ufrag)"
    }

    private var outboundUsername: String {
        "\(self.remoteCredentials.ufrag):\(self.localCredentials.ufrag)"
    }

    private var checkInterval: Duration {
        self.idle ? ConnectionTiming.idleCheckInterval : ConnectionTiming.activeCheckInterval
    }

    private var failureTimeout: Duration {
        self.idle
            ? ConnectionTiming.failureTimeout(
                checkInterval: ConnectionTiming.idleCheckInterval,
                maximumMissedResponses: ConnectionTiming.idleMaximumMissedResponses
            )
            : ConnectionTiming.failureTimeout(
                checkInterval: ConnectionTiming.activeCheckInterval,
                maximumMissedResponses: ConnectionTiming.activeMaximumMissedResponses
            )
    }

    private var selectedIndex: Int? {
        guard let id = self.selectedPairID else {
            return nil
        }
        return self.pairs.firstIndex { $0.id == id }
    }

    /// Controlling: the best pair that succeeded, when it is neither nominated nor being nominated.
    private var nominationCandidateIndex: Int? {
        guard self.role == .controlling,
            let best = self.pairs.firstIndex(where: { $0.state == .succeeded }),
            self.pairs[best].id != self.selectedPairID, !self.pairs[best].nominating, !self.pairs[best].nominated
        else {
            return nil
        }
        return best
    }

    /// Everything due at `now`, in a fixed order: the nominated pair's failure timeout, a nomination to start, then
    /// each pair's checks in priority order; then the nominated pair and the state are brought up to date.
    private mutating func process(now: Instant) {
        self.lastNow = now
        self.checkConsent(now: now)
        if let index = self.nominationCandidateIndex {
            self.logger.debug("ICE: nominating \(self.pairs[index].local) -> \(self.pairs[index].remote)")
            self.pairs[index].nominating = true
            self.pairs[index].scheduleCheck(now: now)
        }
        let selectedPriority = self.selectedIndex.map { self.pairs[$0].priority }
        for index in self.pairs.indices {
            if self.pairs[index].id == self.selectedPairID {
                self.keepAlive(index, now: now)
                continue
            }
            switch self.pairs[index].state {
            case .waiting:
                // RFC 8445 §8.1.2: once a pair is nominated, checks of lower-priority pairs are pointless.
                if let selectedPriority, self.pairs[index].priority < selectedPriority {
                    self.pairs[index].state = .failed
                    continue
                }
                self.pairs[index].state = .inProgress
                self.pairs[index].scheduleCheck(now: now)
                self.retransmit(index, now: now)
            case .inProgress:
                self.retransmit(index, now: now)
            case .succeeded:
                if self.pairs[index].nominating {
                    self.retransmit(index, now: now)
                }
            case .failed:
                break
            }
        }
        self.updateSelectionAndState()
    }

    /// Sends the pair's check when due: RTO 250 ms doubling up to the active check interval, and the pair fails
    /// after ``ConnectionTiming/activeMaximumMissedResponses`` unanswered transmissions (RFC 8445 §14.3 leaves the
    /// values to the agent; these are Firezone's `IceConfig`).
    private mutating func retransmit(_ index: Int, now: Instant) {
        guard let due = self.pairs[index].nextTransmissionAt, due <= now else {
            return
        }
        if self.pairs[index].transmissions >= ConnectionTiming.activeMaximumMissedResponses {
            self.logger.debug("ICE: pair failed \(self.pairs[index].local) -> \(self.pairs[index].remote)")
            self.pairs[index].state = .failed
            self.pairs[index].nominating = false
            self.pairs[index].nextTransmissionAt = nil
            return
        }
        self.sendCheck(index, useCandidate: self.pairs[index].nominating, now: now)
        self.pairs[index].transmissions += 1
        if self.pairs[index].transmissions > 1 {
            self.pairs[index].retransmissionTimeout = min(
                self.pairs[index].retransmissionTimeout * 2,
                ConnectionTiming.activeCheckInterval
            )
        }
        self.pairs[index].nextTransmissionAt = now + self.pairs[index].retransmissionTimeout
    }

    /// The nominated pair's check at the active or idle interval (RFC 8445 §11 keep-alive, RFC 7675 consent).
    private mutating func keepAlive(_ index: Int, now: Instant) {
        if let last = self.pairs[index].lastTransmissionAt, last + self.checkInterval > now {
            return
        }
        self.sendCheck(index, useCandidate: self.role == .controlling, now: now)
        if self.pairs[index].firstUnansweredAt == nil {
            self.pairs[index].firstUnansweredAt = now
        }
    }

    /// The connection fails when the nominated pair's checks stay unanswered for the failure timeout after the
    /// first of them (``ConnectionTiming/failureTimeout(checkInterval:maximumMissedResponses:)``). Every other pair
    /// is given up as well: none was checked since, and the Node replaces a failed connection.
    private mutating func checkConsent(now: Instant) {
        guard let index = self.selectedIndex, let first = self.pairs[index].firstUnansweredAt,
            first + self.failureTimeout <= now
        else {
            return
        }
        self.logger.debug("ICE: nominated pair unanswered since \(first), connection failed")
        for pairIndex in self.pairs.indices {
            self.pairs[pairIndex].state = .failed
            self.pairs[pairIndex].nominated = false
            self.pairs[pairIndex].nominating = false
            self.pairs[pairIndex].nextTransmissionAt = nil
            self.pairs[pairIndex].firstUnansweredAt = nil
        }
    }

    /// RFC 8445 §7.1: a binding request with USERNAME, PRIORITY, the role and USE-CANDIDATE when nominating,
    /// MESSAGE-INTEGRITY under the peer's password, and FINGERPRINT.
    private mutating func sendCheck(_ index: Int, useCandidate: Bool, now: Instant) {
        let pair = self.pairs[index]
        let transactionID = TransactionID(using: &self.generator)
        // RFC 8445 §7.1.1: the priority of the peer-reflexive candidate this check may reveal, with the local
        // preference of the local candidate (str0m `prio_prflx`).
        let priority = Candidate.priority(kind: .peerReflexive, localPreference: (pair.local.priority >> 8) & 0xFFFF)
        var attributes: [STUNAttribute] = [.username(self.outboundUsername), .priority(priority)]
        switch self.role {
        case .controlling: attributes.append(.iceControlling(self.tieBreaker))
        case .controlled: attributes.append(.iceControlled(self.tieBreaker))
        }
        if useCandidate {
            attributes.append(.useCandidate)
        }
        var buffer = ByteBufferAllocator().buffer(capacity: IceConstants.checkCapacity)
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .binding, class: .request),
            transactionID: transactionID,
            attributes: attributes,
            messageIntegrityKey: self.remoteKey,
            fingerprint: true,
            into: &buffer
        )
        self.remember(
            transactionID,
            IceTransaction(
                pairID: pair.id,
                source: pair.local.base,
                destination: pair.remote.address,
                role: self.role,
                useCandidate: useCandidate,
                priority: priority,
                sent: now
            ),
            now: now
        )
        self.pairs[index].lastTransmissionAt = now
        self.transmits.append(IceTransmit(source: pair.local.base, destination: pair.remote.address, payload: buffer))
    }

    private mutating func remember(_ transactionID: TransactionID, _ transaction: IceTransaction, now: Instant) {
        // Answered transactions and those too old to be answered leave from the front (the order is the sending
        // order), so that an idle agent's one check a minute does not pile up IDs.
        while let oldest = self.transactionOrder.first,
            self.transactions[oldest].map({ now - $0.sent >= IceConstants.transactionLifetime }) ?? true
        {
            self.transactionOrder.removeFirst()
            self.transactions[oldest] = nil
        }
        if self.transactionOrder.count >= IceConstants.maximumTransactions,
            let oldest = self.transactionOrder.popFirst()
        {
            self.transactions[oldest] = nil
        }
        self.transactionOrder.append(transactionID)
        self.transactions[transactionID] = transaction
    }

    /// Forgets an answered transaction. With none left outstanding, the tables give their storage back: after the
    /// checks of the connection's setup they would otherwise keep room for dozens, in each of a gateway's
    /// thousands of agents.
    private mutating func forget(_ transactionID: TransactionID) {
        self.transactions[transactionID] = nil
        if self.transactions.isEmpty {
            self.transactions = [:]
            self.transactionOrder = []
        }
    }

    // MARK: Requests

    /// RFC 8445 §7.3: authenticate, resolve a role conflict, answer, learn a peer-reflexive candidate, and check the
    /// pair back (triggered check).
    private mutating func handleRequest(
        _ message: STUNMessage,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        // RFC 8489 §9.1.3: a request without MESSAGE-INTEGRITY or USERNAME gets a 400.
        guard let username = message.username, message.hasMessageIntegrity else {
            self.respond(to: message, from: destination, to: source, error: .badRequest, signed: false)
            return
        }
        guard username == self.inboundUsername else {
            self.logger.trace("ICE: dropping binding request for \(username)")
            return
        }
        // RFC 8445 §7: every check carries FINGERPRINT; one without it is not a check.
        guard message.hasFingerprint else {
            self.logger.trace("ICE: dropping binding request without FINGERPRINT")
            return
        }
        // RFC 8489 §9.1.3: a MESSAGE-INTEGRITY that does not verify gets a 401, unsigned.
        guard message.verifyMessageIntegrity(key: self.localKey) else {
            self.respond(to: message, from: destination, to: source, error: .unauthorized, signed: false)
            return
        }
        guard message.unknownComprehensionRequiredAttributes.isEmpty else {
            self.respond(
                to: message,
                from: destination,
                to: source,
                error: .unknownAttribute,
                extra: [.unknownAttributes(message.unknownComprehensionRequiredAttributes)],
                signed: true
            )
            return
        }
        // RFC 8445 §7.1.1, §7.1.3: PRIORITY and one of the role attributes are mandatory in a check.
        guard let priority = message.priority, priority > 0,
            message.iceControlling != nil || message.iceControlled != nil
        else {
            self.respond(to: message, from: destination, to: source, error: .badRequest, signed: true)
            return
        }

        // RFC 8445 §7.3.1.1: the agent with the larger tie-breaker keeps (or takes) the controlling role.
        switch self.role {
        case .controlling:
            if let theirs = message.iceControlling {
                if self.tieBreaker >= theirs {
                    self.respond(to: message, from: destination, to: source, error: Self.roleConflict, signed: true)
                    return
                }
                self.switchRole(to: .controlled)
            }
        case .controlled:
            if let theirs = message.iceControlled {
                if self.tieBreaker >= theirs {
                    self.switchRole(to: .controlling)
                } else {
                    self.respond(to: message, from: destination, to: source, error: Self.roleConflict, signed: true)
                    return
                }
            }
        }

        // RFC 8445 §7.3.1.3: a source we do not know is a peer-reflexive candidate of the peer.
        var remote = self.remoteCandidates.first { $0.address == source }
        if remote == nil, self.remoteCandidates.count < IceConstants.maximumRemoteCandidates {
            let learned = Candidate(
                kind: .peerReflexive,
                address: source,
                base: source,
                priority: priority,
                foundation: Candidate.foundation(kind: .peerReflexive, base: source, priority: priority)
            )
            self.logger.debug("ICE: peer-reflexive remote candidate \(learned)")
            self.remoteCandidates.append(learned)
            remote = learned
        }

        // RFC 8489 §7.3.1: the success response carries XOR-MAPPED-ADDRESS, the source the request came from.
        self.respond(to: message, from: destination, to: source, extra: [.xorMappedAddress(source)])

        guard let remote, let local = self.pairableLocal(forBase: destination) else {
            return
        }
        // RFC 8445 §7.3.1.4: triggered check.
        var index = self.pairs.firstIndex { $0.matches(localBase: destination, remote: source) }
        if let existing = index {
            switch self.pairs[existing].state {
            case .succeeded, .waiting:
                break
            case .inProgress:
                self.pairs[existing].nextTransmissionAt = now
            case .failed:
                self.pairs[existing].state = .waiting
            }
        } else {
            index = self.addPair(local: local, remote: remote)
        }
        // RFC 8445 §7.3.1.5: the controlled agent nominates the pair once it has succeeded as well.
        if let index, message.useCandidate, self.role == .controlled {
            self.pairs[index].nominated = true
        }
    }

    private static let roleConflict = STUNErrorCode(code: 487, reason: "Role Conflict")

    private mutating func respond(
        to request: STUNMessage,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        error: STUNErrorCode? = nil,
        extra: [STUNAttribute] = [],
        signed: Bool = true
    ) {
        var attributes = extra
        if let error {
            attributes.insert(.errorCode(error), at: 0)
        }
        var buffer = ByteBufferAllocator().buffer(capacity: IceConstants.checkCapacity)
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .binding, class: error == nil ? .successResponse : .errorResponse),
            transactionID: request.transactionID,
            attributes: attributes,
            messageIntegrityKey: signed ? self.localKey : nil,
            fingerprint: true,
            into: &buffer
        )
        self.transmits.append(IceTransmit(source: source, destination: destination, payload: buffer))
    }

    private mutating func switchRole(to role: IceRole) {
        self.logger.debug("ICE: role conflict, switching to \(role)")
        self.role = role
        for index in self.pairs.indices {
            self.pairs[index].priority = CandidatePair.priority(
                local: self.pairs[index].local,
                remote: self.pairs[index].remote,
                role: role
            )
            if role == .controlled && self.pairs[index].nominating {
                self.pairs[index].nominating = false
                self.pairs[index].nextTransmissionAt = nil
            }
        }
        self.sortPairs()
    }

    // MARK: Responses

    /// RFC 8445 §7.2.5: match the transaction, authenticate under the peer's password, and mark the pair.
    private mutating func handleResponse(
        _ message: STUNMessage,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        guard let transaction = self.transactions[message.transactionID],
            message.verifyMessageIntegrity(key: self.remoteKey)
        else {
            self.logger.trace("ICE: dropping unmatched or unauthenticated binding response")
            return
        }
        self.forget(message.transactionID)
        guard let index = self.pairs.firstIndex(where: { $0.id == transaction.pairID }) else {
            return
        }
        let isSelected = self.pairs[index].id == self.selectedPairID

        if message.type.class == .errorResponse {
            if message.errorCode?.code == Self.roleConflict.code {
                // RFC 8445 §7.2.5.1: switch roles (unless already done) and check the pair again.
                if transaction.role == self.role {
                    self.switchRole(to: self.role == .controlling ? .controlled : .controlling)
                }
                switch self.pairs[index].state {
                case .inProgress:
                    self.pairs[index].nextTransmissionAt = now
                case .succeeded where self.pairs[index].nominating:
                    self.pairs[index].nextTransmissionAt = now
                case .waiting, .succeeded, .failed:
                    break
                }
            } else if !isSelected {
                // RFC 8445 §7.2.5.2.4: any other error is unrecoverable for the pair.
                self.failPair(index)
            }
            return
        }

        // RFC 8445 §7.2.5.2.1: the response must come back on the path the request took.
        guard source == transaction.destination, destination == transaction.source else {
            if !isSelected {
                self.failPair(index)
            }
            return
        }
        guard let mapped = message.xorMappedAddress else {
            return
        }
        self.pairs[index].validLocal = self.validLocal(mapped: mapped, pair: self.pairs[index], priority: transaction)
        self.pairs[index].state = .succeeded
        self.pairs[index].firstUnansweredAt = nil
        if transaction.useCandidate && transaction.role == .controlling && self.role == .controlling {
            self.pairs[index].nominated = true
            self.pairs[index].nominating = false
        }
        if !self.pairs[index].nominating {
            self.pairs[index].nextTransmissionAt = nil
        }
    }

    private mutating func failPair(_ index: Int) {
        self.pairs[index].state = .failed
        self.pairs[index].nominating = false
        self.pairs[index].nextTransmissionAt = nil
    }

    /// RFC 8445 §7.2.5.3.1–2: the local candidate of the valid pair is the one at the mapped address with this
    /// pair's base; an unknown mapped address is a peer-reflexive candidate of ours, with the priority the check
    /// announced. Such a candidate is not paired with other remote candidates.
    private mutating func validLocal(
        mapped: IPSocketAddress,
        pair: CandidatePair,
        priority transaction: IceTransaction
    ) -> Candidate {
        if let known = self.localCandidates.first(where: { $0.address == mapped && $0.base == pair.local.base }) {
            return known
        }
        let learnedCount = self.localCandidates.count { $0.kind == .peerReflexive }
        guard learnedCount < IceConstants.maximumPeerReflexiveLocalCandidates else {
            return pair.local
        }
        let learned = Candidate(
            kind: .peerReflexive,
            address: mapped,
            base: pair.local.base,
            priority: transaction.priority,
            foundation: Candidate.foundation(
                kind: .peerReflexive,
                base: pair.local.base,
                priority: transaction.priority
            )
        )
        self.logger.debug("ICE: peer-reflexive local candidate \(learned)")
        self.localCandidates.append(learned)
        return learned
    }

    // MARK: Pairs

    /// RFC 8445 §6.1.2.4: a server-reflexive candidate is checked from its base, so it pairs as the host candidate
    /// at that base; peer-reflexive local candidates are never paired.
    private func pairableLocal(for candidate: Candidate) -> Candidate? {
        switch candidate.kind {
        case .host, .relayed:
            return candidate
        case .serverReflexive:
            if let host = self.localCandidates.first(where: { $0.kind == .host && $0.address == candidate.base }) {
                return host
            }
            let version = candidate.base.address.version
            return Candidate(
                kind: .host,
                address: candidate.base,
                base: candidate.base,
                relayClientSocket: nil,
                localPreference: Candidate.localPreference(
                    kind: .host,
                    address: candidate.base,
                    relayClientSocket: nil,
                    sameKind: self.localCandidates.count { $0.kind == .host && $0.address.address.version == version }
                )
            )
        case .peerReflexive:
            return nil
        }
    }

    /// The local candidate that sends from `base`: where a request arriving there is checked back from.
    private func pairableLocal(forBase base: IPSocketAddress) -> Candidate? {
        let candidate =
            self.localCandidates.first { ($0.kind == .host || $0.kind == .relayed) && $0.base == base }
            ?? self.localCandidates.first { $0.kind == .serverReflexive && $0.base == base }
        return candidate.flatMap { self.pairableLocal(for: $0) }
    }

    /// Forms a waiting pair unless one with the same local base and remote address exists (RFC 8445 §6.1.2.4) or
    /// the checklist is full and the pair ranks below all that may go (§6.1.2.5). Returns its index.
    @discardableResult
    private mutating func addPair(local: Candidate, remote: Candidate) -> Int? {
        guard local.address.address.version == remote.address.address.version else {
            return nil
        }
        if let existing = self.pairs.firstIndex(where: { $0.matches(localBase: local.base, remote: remote.address) }) {
            return existing
        }
        let pair = CandidatePair(id: self.nextPairID, local: local, remote: remote, role: self.role)
        if self.pairs.count >= IceConstants.maximumCandidatePairs {
            guard
                let lowest = self.pairs.lastIndex(where: {
                    $0.id != self.selectedPairID && $0.state != .succeeded
                }),
                self.pairs[lowest].priority < pair.priority
            else {
                self.logger.debug("ICE: checklist full, not pairing \(local) -> \(remote)")
                return nil
            }
            self.pairs.remove(at: lowest)
        }
        self.nextPairID += 1
        let index = self.pairs.firstIndex { Self.ranks(pair, before: $0) } ?? self.pairs.endIndex
        self.pairs.insert(pair, at: index)
        return index
    }

    private mutating func removePairs(where shouldRemove: (CandidatePair) -> Bool) {
        self.pairs.removeAll(where: shouldRemove)
    }

    private mutating func sortPairs() {
        self.pairs.sort { Self.ranks($0, before: $1) }
    }

    private static func ranks(_ lhs: CandidatePair, before rhs: CandidatePair) -> Bool {
        if lhs.priority != rhs.priority {
            return lhs.priority > rhs.priority
        }
        return (lhs.local.base, lhs.remote.address) < (rhs.local.base, rhs.remote.address)
    }

    /// The nominated pair is the highest-priority one that succeeded and was nominated (RFC 8445 §8.1.1: with
    /// several nominations, the highest priority wins); then the state follows.
    private mutating func updateSelectionAndState() {
        let best = self.pairs.first { $0.state == .succeeded && $0.nominated }
        if best?.id != self.selectedPairID {
            self.selectedPairID = best?.id
            if let best, let index = self.selectedIndex {
                self.pairs[index].firstUnansweredAt = nil
                let local = best.validLocal ?? best.local
                self.logger.debug("ICE: nominated \(local) -> \(best.remote)")
                self.events.append(.nominated(local: local, remote: best.remote))
            }
        }
        let state: IceConnectionState
        if self.selectedPairID != nil {
            state = .connected
        } else if self.pairs.contains(where: { $0.state != .failed }) {
            state = .checking
        } else if self.pairs.isEmpty && self.state == .new {
            state = .new
        } else {
            state = .disconnected
        }
        if state != self.state {
            self.logger.debug("ICE: \(self.state) -> \(state)")
            self.state = state
            self.events.append(.stateChanged(state))
        }
    }
}
