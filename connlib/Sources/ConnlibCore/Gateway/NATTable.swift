import FirezoneTime
import IPPacket

/// A gateway's stateful NAT for one client's DNS-resource traffic (Firezone's
/// rust/connlib/tunnel/src/gateway/nat_table.rs): a packet to a proxy IP leaves for the real IP the domain resolved
/// to, and the replies come back from the proxy IP.
///
/// The table maps an inside key (transport protocol with the client's source port or ICMP echo identifier, proxy IP)
/// to an outside key (protocol with a port or identifier, real IP) and back. The port is part of the key because
/// several proxy IPs, of one domain or of several, may resolve to one real IP: an address alone could not tell the
/// replies apart. The outside port is the first one free from the client's own port up, wrapping: usually the port
/// itself.
///
/// A session ends a while after its last packet (``NATConstants``), at once on a TCP RST, soon after both TCP FINs;
/// ``handleTimeout(now:)`` removes ended sessions, and lookups treat a session past its deadline as ended even if
/// no timeout was handled yet. A packet on a session that ended recently is reported as such, so that the caller
/// drops it; a packet of no session is none of the NAT's business (CIDR and Internet resource traffic).
///
/// Per packet of an existing session: one hash lookup and the in-place rewrite; nothing grows.
public struct NATTable: Sendable {
    /// The client's side of a session: what the client sent from, to the proxy IP.
    public struct Inside: Hashable, Sendable, CustomStringConvertible {
        /// The client's source port or ICMP echo identifier.
        public var transport: TransportProtocol
        public var proxyAddress: IPAddress

        public init(transport: TransportProtocol, proxyAddress: IPAddress) {
            self.transport = transport
            self.proxyAddress = proxyAddress
        }

        public var description: String { "\(self.transport) to \(self.proxyAddress)" }
    }

    /// The resource's side of a session: the source port or identifier the packets leave with, to the real IP.
    public struct Outside: Hashable, Sendable, CustomStringConvertible {
        public var transport: TransportProtocol
        public var realAddress: IPAddress

        public init(transport: TransportProtocol, realAddress: IPAddress) {
            self.transport = transport
            self.realAddress = realAddress
        }

        public var description: String { "\(self.transport) to \(self.realAddress)" }
    }

    /// What ``translateInbound(_:now:)`` did with a packet from the resources' side.
    public enum InboundResult: Hashable, Sendable {
        /// A reply on a session: its source is now the proxy IP, its destination port the client's.
        case translated(Inside)
        /// An ICMP error about a packet of a session: the quoted packet reads as the client sent it and the error
        /// comes from the proxy IP.
        case translatedICMPError(Inside)
        /// A packet on a session that has ended: to drop.
        case expiredSession(Outside)
        /// No session: not DNS-resource traffic, left untouched.
        case noSession
    }

    private var sessions: [Session?] = []
    /// Indices of `sessions` that hold no session.
    private var freeSlots: [Int] = []
    private var slotByInside: [Inside: Int] = [:]
    private var slotByOutside: [Outside: Int] = [:]
    /// How many sessions each proxy IP has, for ``hasSessions(toProxy:)``.
    private var sessionCountByProxy: [IPAddress: Int] = [:]
    /// Outside keys of recently ended sessions, with when they ended.
    private var expired: [Outside: Instant] = [:]
    /// No session ends and no expired key is forgotten before this; `nil` when there is nothing to time.
    private var nextSweep: Instant?

    /// Sessions beyond this many are refused.
    public let capacity: Int
    /// How many sessions were ever opened, across ``removeAll()``: while it stays the same, a packet that belonged to
    /// no session still belongs to none (ended sessions had to open first).
    public private(set) var sessionsOpened: UInt64 = 0

    public init(capacity: Int = NATConstants.maximumSessionsPerClient) {
        precondition(capacity > 0, "a NAT table holds at least one session")
        self.capacity = capacity
    }

    /// Open sessions.
    public var count: Int {
        self.slotByInside.count
    }

    /// Whether any open session goes to `proxy`.
    public func hasSessions(toProxy proxy: IPAddress) -> Bool {
        self.sessionCountByProxy[proxy, default: 0] > 0
    }

    /// The outside key of the open session of `inside`, if any.
    public func outside(of inside: Inside) -> Outside? {
        self.slotByInside[inside].map { self.sessions[$0]!.outside }
    }

    /// Ends every session and forgets the ended ones: the client's proxy IPs now mean other domains (Firezone
    /// #10310).
    public mutating func removeAll() {
        let opened = self.sessionsOpened
        self = NATTable(capacity: self.capacity)
        self.sessionsOpened = opened
    }

    // MARK: Translation

    /// Rewrites a client's packet to a proxy IP for `realDestination`: destination address and, if another session
    /// holds the client's port towards that address, source port. Opens a session for a new flow.
    ///
    /// Throws if the packet has no port or echo identifier, or if the session cannot be opened.
    public mutating func translateOutbound(
        _ packet: inout IPPacket,
        realDestination: IPAddress,
        now: Instant
    ) throws(NATTableError) -> Outside {
        guard packet.destination.version == realDestination.version else {
            throw .familyMismatch(proxy: packet.destination, real: realDestination)
        }
        let source: TransportProtocol
        do {
            source = try packet.sourceProtocol()
        } catch {
            throw .noPortOrIdentifier(packet.ipProtocol)
        }
        let inside = Inside(transport: source, proxyAddress: packet.destination)
        let slot = try self.outboundSession(inside, realDestination: realDestination, now: now)
        let outside = self.sessions[slot]!.outside
        packet.setDestination(realDestination)
        if outside.transport != source {
            do {
                try packet.setSourceProtocol(outside.transport.value)
            } catch {
                preconditionFailure("the packet's source port or identifier was read above: \(error)")
            }
        }
        self.sessions[slot]!.lastOutbound = now
        self.noteTCPFlags(of: packet, slot: slot, fromInside: true, now: now)
        return outside
    }

    /// Rewrites a packet from the resources' side that belongs to a session back to what the client expects: a
    /// reply from the proxy IP to the client's port, or an ICMP error quoting the client's packet as sent.
    public mutating func translateInbound(_ packet: inout IPPacket, now: Instant) -> InboundResult {
        if packet.icmp != nil, let error = try? packet.icmpError() {
            return self.translateInboundICMPError(&packet, quoting: error.1, now: now)
        }
        guard let destination = try? packet.destinationProtocol() else {
            return .noSession
        }
        let outside = Outside(transport: destination, realAddress: packet.source)
        guard let slot = self.liveSlot(outside, now: now) else {
            return self.expired[outside] != nil ? .expiredSession(outside) : .noSession
        }
        let inside = self.sessions[slot]!.inside
        packet.setSource(inside.proxyAddress)
        if destination != inside.transport {
            do {
                try packet.setDestinationProtocol(inside.transport.value)
            } catch {
                preconditionFailure("the packet's destination port or identifier was read above: \(error)")
            }
        }
        self.recordInbound(packet, slot: slot, now: now)
        return .translated(inside)
    }

    private mutating func translateInboundICMPError(
        _ packet: inout IPPacket,
        quoting failed: FailedPacket,
        now: Instant
    ) -> InboundResult {
        // The quoted packet is one we sent: from the client's port (or our replacement) to the real IP.
        guard let quotedSource = failed.sourceProtocol else {
            return .noSession
        }
        let outside = Outside(transport: quotedSource, realAddress: failed.destination)
        guard let slot = self.liveSlot(outside, now: now) else {
            return self.expired[outside] != nil ? .expiredSession(outside) : .noSession
        }
        let inside = self.sessions[slot]!.inside
        let translated = packet.translateICMPError(
            source: inside.proxyAddress,
            quotedDestination: inside.proxyAddress,
            quotedSourceValue: inside.transport.value
        )
        precondition(translated, "an ICMP error whose quote names a session's port can be translated")
        // As Firezone: an error about a session's packet is news from the outside and keeps the session.
        self.sessions[slot]!.lastInbound = now
        return .translatedICMPError(inside)
    }

    // MARK: Timeouts

    /// Ends the sessions whose time is up and forgets expired keys older than
    /// ``NATConstants/expiredSessionMemory``.
    public mutating func handleTimeout(now: Instant) {
        guard let nextSweep = self.nextSweep, nextSweep <= now else {
            return
        }
        var earliest: Instant?
        // In slot order: which sessions end is decided by time alone, and the order of their ending is not output.
        for slot in self.sessions.indices {
            guard let session = self.sessions[slot] else {
                continue
            }
            let deadline = session.deadline
            if deadline <= now {
                self.end(slot: slot, at: now)
            } else {
                earliest = Swift.min(earliest ?? deadline, deadline)
            }
        }
        // Each key is kept or forgotten on its own age: the walk's order reaches no output.
        for (outside, endedAt) in self.expired {  // unordered-ok: removal by age only
            let forgetAt = endedAt + NATConstants.expiredSessionMemory
            if forgetAt <= now {
                self.expired[outside] = nil
            } else {
                earliest = Swift.min(earliest ?? forgetAt, forgetAt)
            }
        }
        if self.slotByInside.isEmpty {
            self.sessions.removeAll()
            self.freeSlots.removeAll()
        }
        self.nextSweep = earliest
    }

    /// When ``handleTimeout(now:)`` has work: no session ends earlier. It may find nothing to do then, when packets
    /// kept sessions alive.
    public func pollTimeout() -> (deadline: Instant, reason: StaticString)? {
        self.nextSweep.map { ($0, "NAT session timeout") }
    }

    // MARK: Sessions

    private struct Session: Sendable {
        var inside: Inside
        var outside: Outside
        var lastOutbound: Instant
        /// `nil` until the resource's side answers: the session is unconfirmed.
        var lastInbound: Instant?
        var finFromInside = false
        var finFromOutside = false

        /// When the session ends unless another packet comes.
        var deadline: Instant {
            let lastPacket = Swift.max(self.lastOutbound, self.lastInbound ?? self.lastOutbound)
            if self.finFromInside, self.finFromOutside {
                return lastPacket + NATConstants.closedTCPTimeout
            }
            guard self.lastInbound != nil else {
                return self.lastOutbound + NATConstants.unconfirmedTimeout
            }
            return lastPacket + NATConstants.timeout(for: self.inside.transport)
        }
    }

    /// The slot of the session of `inside` towards `realDestination`, opened if needed.
    private mutating func outboundSession(
        _ inside: Inside,
        realDestination: IPAddress,
        now: Instant
    ) throws(NATTableError) -> Int {
        if let slot = self.slotByInside[inside] {
            let session = self.sessions[slot]!
            if session.deadline > now, session.outside.realAddress == realDestination {
                return slot
            }
            // Ended but not yet swept, or the proxy IP now maps to another address: a new session.
            self.end(slot: slot, at: now)
        }
        return try self.openSession(inside, realDestination: realDestination, now: now)
    }

    private mutating func recordInbound(_ packet: IPPacket, slot: Int, now: Instant) {
        self.sessions[slot]!.lastInbound = now
        self.noteTCPFlags(of: packet, slot: slot, fromInside: false, now: now)
    }

    private mutating func noteTCPFlags(of packet: IPPacket, slot: Int, fromInside: Bool, now: Instant) {
        guard let flags = packet.tcp?.flags else {
            return
        }
        if flags.contains(.rst) {
            self.end(slot: slot, at: now)
            return
        }
        guard flags.contains(.fin) else {
            return
        }
        if fromInside {
            self.sessions[slot]!.finFromInside = true
        } else {
            self.sessions[slot]!.finFromOutside = true
        }
        self.scheduleSweep(at: self.sessions[slot]!.deadline)
    }

    private mutating func openSession(
        _ inside: Inside,
        realDestination: IPAddress,
        now: Instant
    ) throws(NATTableError) -> Int {
        guard self.slotByInside.count < self.capacity else {
            throw .full(capacity: self.capacity)
        }
        guard let outside = self.firstFreeOutside(for: inside.transport, realDestination: realDestination) else {
            throw .portsExhausted(inside, realAddress: realDestination)
        }
        let session = Session(inside: inside, outside: outside, lastOutbound: now)
        let slot: Int
        if let free = self.freeSlots.popLast() {
            slot = free
            self.sessions[slot] = session
        } else {
            slot = self.sessions.count
            self.sessions.append(session)
        }
        self.slotByInside[inside] = slot
        self.slotByOutside[outside] = slot
        self.sessionsOpened &+= 1
        self.sessionCountByProxy[inside.proxyAddress, default: 0] += 1
        self.expired[outside] = nil
        self.scheduleSweep(at: session.deadline)
        return slot
    }

    /// The first outside key no session holds, from the client's own port or identifier up, then wrapping from 1
    /// (port 0 only if the client used it), as Firezone does: a mapping usually keeps the client's port.
    private func firstFreeOutside(for transport: TransportProtocol, realDestination: IPAddress) -> Outside? {
        let original = transport.value
        func free(_ value: UInt16) -> Outside? {
            let outside = Outside(transport: transport.with(value: value), realAddress: realDestination)
            return self.slotByOutside[outside] == nil ? outside : nil
        }
        for value in original...UInt16.max {
            if let outside = free(value) {
                return outside
            }
        }
        for value in UInt16(1)..<Swift.max(original, 1) {
            if let outside = free(value) {
                return outside
            }
        }
        return nil
    }

    /// The slot of the session of `outside` if it is open and within its deadline; a session past it is ended.
    private mutating func liveSlot(_ outside: Outside, now: Instant) -> Int? {
        guard let slot = self.slotByOutside[outside] else {
            return nil
        }
        guard self.sessions[slot]!.deadline > now else {
            self.end(slot: slot, at: now)
            return nil
        }
        return slot
    }

    private mutating func end(slot: Int, at now: Instant) {
        let session = self.sessions[slot]!
        self.sessions[slot] = nil
        self.freeSlots.append(slot)
        self.slotByInside[session.inside] = nil
        self.slotByOutside[session.outside] = nil
        let remaining = self.sessionCountByProxy[session.inside.proxyAddress, default: 1] - 1
        self.sessionCountByProxy[session.inside.proxyAddress] = remaining > 0 ? remaining : nil
        if self.expired.count < self.capacity {
            self.expired[session.outside] = now
            self.scheduleSweep(at: now + NATConstants.expiredSessionMemory)
        }
    }

    private mutating func scheduleSweep(at deadline: Instant) {
        self.nextSweep = Swift.min(self.nextSweep ?? deadline, deadline)
    }
}
