import FirezoneTime
import ICE
import NIOCore

extension Node {
    /// Fires everything due at `now`: the allocations' timers, then each due connection's (its ICE agent, its
    /// WireGuard tunnel, the idle switch, the client's keep-alive, the wait for remote candidates), then frees
    /// dead allocations and moves their connections. `unixTime` is the wall clock at `now` (handshake
    /// timestamps).
    public mutating func handleTimeout(now: Instant, unixTime: Duration) {
        self.lastNow = now
        self.unixOffset = unixTime - (now - .zero)
        defer { self.finishInput() }
        // By position, here and in the other loops over relays on this path: a copy of the keys, or a keyed
        // `_modify`, allocates on every call, and this runs on every tick of a gateway's timer.
        for index in self.relays.entries.indices {
            if let deadline = self.relays.entries[index].allocation.pollTimeout(), deadline <= now {
                self.relays.entries[index].allocation.handleTimeout(now: now)
            }
        }
        self.drainAllocations(now: now)
        while let id = self.deadlines.popDue(now: now) {
            self.handleConnectionTimers(id, now: now)
        }
        self.expireRequests(now: now)
        self.collectAllocations(now: now)
    }

    private mutating func handleConnectionTimers(_ id: ConnectionID, now: Instant) {
        guard var connection = self.connections[id] else {
            return
        }
        if let deadline = connection.remoteCandidateDeadline, deadline <= now {
            self.fail(id, .noRemoteCandidates)
            return
        }
        if connection.nominated == nil, let deadline = connection.nominationDeadline, deadline <= now {
            self.fail(id, .iceDisconnected)
            return
        }
        if let deadline = connection.agent.pollTimeout(), deadline <= now {
            connection.agent.handleTimeout(now: now)
        }
        // Only an established connection idles: one that never got a WireGuard session keeps checking at the active
        // pace, so that it fails within ICE's active timeout when its peer is gone (a stale key, a replaced peer).
        if case .connected = connection.state, connection.established,
            now - connection.lastApplicationTraffic >= ConnectionTiming.idleAfter
        {
            self.logger.debug("Connection idle", metadata: ["connection": "\(id)"])
            connection.state = .idle
            connection.agent.setIdle(true, now: now)
            self.router.setLowPower(true, for: id)
        }
        self.connections[id] = connection
        if let deadline = self.router.pollTimeout(for: id)?.deadline, deadline <= now {
            self.router.handleTimeout(for: id, now: now, unixTime: self.unixTime)
        }
        if self.keepaliveDeadline(of: connection).map({ $0 <= now }) == true {
            self.sendKeepalive(id, now: now)
        }
        self.drainTunnel(id, now: now)
        self.drainAgent(id, now: now)
        self.reschedule(id, now: now)
    }

    /// The client-initiated WireGuard keep-alive: due ``ConnectionTiming/keepaliveInterval`` after the last
    /// datagram the client sent through the tunnel, so application traffic postpones it.
    private func keepaliveDeadline(of connection: Connection<RelayID>) -> Instant? {
        guard self.role == .client, connection.established else {
            return nil
        }
        return connection.lastTunnelDatagramSent + ConnectionTiming.keepaliveInterval
    }

    private mutating func sendKeepalive(_ id: ConnectionID, now: Instant) {
        guard self.router.hasSession(id) else {
            return
        }
        // WireGuard's keep-alive is a transport message with an empty payload (WireGuard paper §6.5).
        self.encapsulateCopy(of: ByteBuffer(), for: id, now: now)
    }

    /// Puts a connection's next deadline in the queue.
    mutating func reschedule(_ id: ConnectionID, now: Instant) {
        guard let connection = self.connections[id] else {
            return
        }
        var next = connection.remoteCandidateDeadline
        func consider(_ deadline: Instant?) {
            if let deadline, deadline < next ?? Instant(nanoseconds: .max) {
                next = deadline
            }
        }
        consider(connection.agent.pollTimeout())
        consider(self.router.pollTimeout(for: id)?.deadline)
        if connection.nominated == nil {
            consider(connection.nominationDeadline)
        }
        if case .connected = connection.state, connection.established {
            consider(connection.lastApplicationTraffic + ConnectionTiming.idleAfter)
        }
        consider(self.keepaliveDeadline(of: connection))
        if let next {
            self.deadlines.schedule(id, at: max(next, now))
        }
    }

    private mutating func expireRequests(now: Instant) {
        while let first = self.requestExpiries.first, first.expiry <= now {
            self.requestExpiries.removeFirst()
            self.requestOwners.removeValue(forKey: first.transaction)
        }
    }
}
