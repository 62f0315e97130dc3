import FirezoneCrypto
import FirezoneTime
import ICE
import IPPacket
import Logging
import NIOCore
import WireGuard

extension Node {
    /// Creates the connection to a peer, or keeps the existing one when nothing about the peer changed (Firezone's
    /// rust/connlib/snownet/src/node.rs).  Kept: the same key, preshared key (Firezone #9999) and ICE credentials both
    /// ways. It then wakes up from idle, signals all its local candidates again and, on the client, rolls the WireGuard
    /// session over (at most every 20 s, Firezone #10102). Otherwise any old connection with this ID is dropped and a
    /// new one made on a relay chosen uniformly at random (Firezone 685acdac3a's choice), which fails with
    /// ``NodeError/noRelays`` when the node has none.
    public mutating func upsertConnection(
        _ id: ConnectionID,
        remoteKey: PublicKey,
        presharedKey: PresharedKey,
        local: IceCredentials,
        remote: IceCredentials,
        now: Instant
    ) throws(NodeError) {
        self.lastNow = now
        defer { self.finishInput() }
        if var connection = self.connections[id],
            connection.matches(remoteKey: remoteKey, presharedKey: presharedKey, local: local, remote: remote)
        {
            self.logger.debug("Reusing connection", metadata: ["connection": "\(id)"])
            if case .idle = connection.state {
                connection.state = .connected
                connection.agent.setIdle(false, now: now)
                self.router.setLowPower(false, for: id)
            }
            connection.lastApplicationTraffic = now
            self.candidateChanges[id, default: ([], [])].new.append(contentsOf: connection.signalled)
            self.connections[id] = connection
            if self.role == .client {
                self.router.rollOverSession(for: id, now: now)
                self.drainTunnel(id, now: now)
            }
            self.drainAgent(id, now: now)
            self.reschedule(id, now: now)
            return
        }
        if self.connections[id] != nil {
            self.logger.debug("Replacing connection", metadata: ["connection": "\(id)"])
            self.forget(id)
        }
        guard !self.relays.isEmpty else {
            throw .noRelays
        }
        if self.router.peer(withKey: remoteKey) != nil {
            throw .duplicatePublicKey
        }
        do throws(WireGuardRouterError) {
            _ = try self.router.addPeer(
                id,
                publicKey: remoteKey,
                presharedKey: presharedKey,
                handshakeTimeout: NodeConstants.handshakeTimeout,
                endpoint: nil,
                allowedIPs: AnyInnerSource(),
                seed: self.rng.nextBytes32(),
                logger: self.logger,
                now: now,
                unixTime: self.unixTime
            )
        } catch {
            // Only exhaustion is left after the checks above: 2^24 − 1 connections in one node's life.
            self.logger.error("Cannot add a WireGuard peer", metadata: ["error": "\(error)"])
            throw .wireGuard(error)
        }
        let agent = IceAgent(
            role: self.role.iceRole,
            local: local,
            remote: remote,
            seed: self.rng.next(),
            logger: self.logger
        )
        self.connections[id] = Connection(
            remoteKey: remoteKey,
            presharedKey: presharedKey,
            localCredentials: local,
            remoteCredentials: remote,
            agent: agent,
            relay: self.sampleRelay(),
            now: now
        )
        self.connectionByUfrag[local.ufrag] = id
        self.addLocalCandidates(to: id)
        self.logger.debug(
            "New connection",
            metadata: ["connection": "\(id)", "relay": "\(self.connections[id]?.relay.map { "\($0)" } ?? "none")"]
        )
        self.drainAgent(id, now: now)
        self.reschedule(id, now: now)
    }

    /// Forgets a connection without telling the peer.
    public mutating func removeConnection(_ id: ConnectionID, now: Instant) {
        self.lastNow = now
        self.forget(id)
        self.finishInput()
    }

    /// Closes a connection: an established one sends `goodbye` (an IP packet, Firezone's p2p control message,
    /// #10076) to the peer first, so that it closes its side at once. Reports ``NodeEvent/connectionClosed(_:)``.
    public mutating func closeConnection(_ id: ConnectionID, goodbye: ByteBuffer, now: Instant) {
        self.lastNow = now
        defer { self.finishInput() }
        guard self.connections[id] != nil else {
            return
        }
        if self.connections[id]?.established == true {
            self.encapsulateCopy(of: goodbye, for: id, now: now)
        }
        self.forget(id)
        self.events.append(.connectionClosed(id))
    }

    /// Closes every connection (``closeConnection(_:goodbye:now:)``), for a graceful shutdown (Firezone #10400).
    public mutating func closeAll(goodbye: ByteBuffer, now: Instant) {
        for id in Array(self.connections.keys) {
            self.closeConnection(id, goodbye: goodbye, now: now)
        }
    }

    /// Adds a batch of the peer's candidates, highest priority first (Firezone #10063); a candidate that does not
    /// parse is skipped alone and counted. Returns how many were skipped.
    @discardableResult
    public mutating func addRemoteCandidates(
        _ candidates: [String],
        for id: ConnectionID,
        now: Instant
    ) throws(NodeError) -> Int {
        self.lastNow = now
        defer { self.finishInput() }
        guard self.connections[id] != nil else {
            throw .unknownConnection
        }
        var parsed: [Candidate] = []
        var skipped = 0
        for sdp in candidates {
            do throws(CandidateParseError) {
                parsed.append(try Candidate(parsing: sdp))
            } catch {
                skipped += 1
                self.stats.invalidCandidates += 1
                self.logger.info(
                    "Skipping an invalid remote candidate",
                    metadata: ["connection": "\(id)", "candidate": "\(sdp)", "error": "\(error)"]
                )
            }
        }
        // Stable: equal priorities keep the order the peer sent them in.
        let ordered = parsed.enumerated().sorted { ($0.element.priority, $1.offset) > ($1.element.priority, $0.offset) }
        for (_, candidate) in ordered {
            self.addRemoteCandidate(candidate, to: id, now: now)
        }
        self.drainAgent(id, now: now)
        self.reschedule(id, now: now)
        return skipped
    }

    /// Adds one of the peer's candidates; see ``addRemoteCandidates(_:for:now:)``.
    public mutating func addRemoteCandidate(_ sdp: String, for id: ConnectionID, now: Instant) throws(NodeError) {
        do throws(CandidateParseError) {
            _ = try Candidate(parsing: sdp)
        } catch {
            self.stats.invalidCandidates += 1
            throw .invalidCandidate(error)
        }
        try self.addRemoteCandidates([sdp], for: id, now: now)
    }

    /// Removes one of the peer's candidates (it invalidated it).
    public mutating func removeRemoteCandidate(_ sdp: String, for id: ConnectionID, now: Instant) throws(NodeError) {
        self.lastNow = now
        defer { self.finishInput() }
        guard self.connections[id] != nil else {
            throw .unknownConnection
        }
        let candidate: Candidate
        do throws(CandidateParseError) {
            candidate = try Candidate(parsing: sdp)
        } catch {
            self.stats.invalidCandidates += 1
            throw .invalidCandidate(error)
        }
        self.connections[id]?.agent.invalidateRemoteCandidate(candidate, now: now)
        self.drainAgent(id, now: now)
        self.reschedule(id, now: now)
    }

    /// Starts over after the network changed (roaming; Firezone's `Node::reset`): every
    /// connection is closed (``NodeEvent/connectionClosed(_:)``), the static key is replaced by `secret` (the
    /// portal learns it when the client reconnects) and every allocation starts again from BINDING with the same
    /// credentials, from whatever sockets the shell now has.
    public mutating func reset(secret: StaticSecret, now: Instant) {
        self.lastNow = now
        defer { self.finishInput() }
        for id in Array(self.connections.keys) {
            self.forget(id)
            self.events.append(.connectionClosed(id))
        }
        let identity = LocalIdentity(secret: secret)
        self.publicKey = identity.publicKey
        self.software = Self.software(for: identity.publicKey)
        self.router = Router(
            identity: identity,
            limiterSeed: self.rng.nextBytes32(),
            indexSeed: self.rng.next(),
            now: now
        )
        self.requestOwners.removeAll()
        self.requestExpiries.removeAll()
        self.transmits.removeAll()
        for index in self.relays.entries.indices {
            let server = self.relays.entries[index].server
            self.relays.entries[index].allocation = self.makeAllocation(server, now: now)
        }
        self.drainAllocations(now: now)
    }

    // MARK: Internals

    /// Drops every trace of a connection; no event.
    mutating func forget(_ id: ConnectionID) {
        guard let connection = self.connections.removeValue(forKey: id) else {
            return
        }
        self.router.removePeer(id)
        self.connectionByUfrag.removeValue(forKey: connection.localCredentials.ufrag)
        self.deadlines.remove(id)
        self.candidateChanges.removeValue(forKey: id)
    }

    /// Fails a connection for `cause`: it is reported and forgotten.
    mutating func fail(_ id: ConnectionID, _ cause: ConnectionFailure) {
        guard self.connections[id] != nil else {
            return
        }
        self.logger.info("Connection failed", metadata: ["connection": "\(id)", "cause": "\(cause)"])
        self.stats.connectionsFailed += 1
        self.forget(id)
        self.events.append(.connectionFailed(id, cause))
    }

    /// Adds one remote candidate, binds a channel to it on our relay when it is not a host candidate (a relayed
    /// pair towards it needs one; host candidates are reached directly), and guesses the optimistic candidates it
    /// makes possible.
    mutating func addRemoteCandidate(_ candidate: Candidate, to id: ConnectionID, now: Instant) {
        guard var connection = self.connections[id] else {
            return
        }
        connection.agent.addRemoteCandidate(candidate, now: now)
        if connection.remoteCandidateDeadline != nil {
            connection.remoteCandidateDeadline = nil
            connection.nominationDeadline = now + NodeConstants.nominationTimeout
        }
        if candidate.kind != .host, let relay = connection.relay {
            self.relays[relay]?.allocation.bindChannel(to: candidate.address, now: now)
        }
        for optimistic in Self.optimisticCandidates(
            remote: connection.agent.remoteCandidates,
            existing: connection.optimisticCandidates
        ) {
            connection.optimisticCandidates.append(optimistic)
            connection.agent.addRemoteCandidate(optimistic, now: now)
        }
        self.connections[id] = connection
    }

    /// Firezone #10367: a NAT that forwards the port the peer listens on makes `public IPv4 : host port`
    /// reachable; at most ``NodeConstants/maximumOptimisticCandidates`` such guesses per connection, IPv4 only.
    static func optimisticCandidates(remote: [Candidate], existing: [Candidate]) -> [Candidate] {
        var guesses: [Candidate] = []
        var budget = NodeConstants.maximumOptimisticCandidates - existing.count
        guard budget > 0 else {
            return []
        }
        let known = Set(remote.map(\.address))
        for reflexive in remote where reflexive.kind == .serverReflexive && reflexive.address.address.version == .v4 {
            for host in remote where host.kind == .host && host.address.address.version == .v4 {
                let address = IPSocketAddress(reflexive.address.address, port: host.address.port)
                guard budget > 0, !known.contains(address), !guesses.contains(where: { $0.address == address }),
                    !existing.contains(where: { $0.address == address })
                else {
                    continue
                }
                guesses.append(.serverReflexive(address, base: address))
                budget -= 1
            }
        }
        return guesses
    }
}
