import FirezoneTime
import ICE
import IPPacket
import Logging
import TURNClient

extension Node {
    /// Changes the relays (Firezone's rust/connlib/snownet/src/node.rs): `removing` go away with their relayed
    /// candidates; each of `adding` is new, replaces the relay with its ID when its address changed, or gives its
    /// allocation new credentials;
    /// every relay that stays is probed (``Allocation/refresh(now:)``). Connections on a relay that went away move to
    /// another one.
    public mutating func updateRelays(removing: [RelayID], adding: [TURNServer<RelayID>], now: Instant) {
        self.lastNow = now
        defer { self.finishInput() }
        for id in removing {
            self.removeRelay(id)
        }
        let added = Set(adding.map(\.id))
        for id in self.relays.ids where !added.contains(id) {
            self.relays[id]?.allocation.refresh(now: now)
        }
        for server in adding {
            if let existing = self.relays[server.id] {
                if existing.server == server {
                    self.relays[server.id]?.allocation.refresh(now: now)
                    continue
                }
                if existing.server.socket == server.socket {
                    // New credentials for the relay we allocate on (a rejoin's `init`): the allocation deletes the
                    // one it made and allocates again from the same socket (``Allocation/updateCredentials``).
                    self.relays[server.id]?.server = server
                    self.relays[server.id]?.allocation.updateCredentials(
                        username: server.username,
                        password: server.password,
                        realm: server.realm,
                        now: now
                    )
                    continue
                }
                self.removeRelay(server.id)
            }
            let allocation = self.makeAllocation(server, now: now)
            self.relays[server.id] = RelayState(server: server, allocation: allocation)
            self.hadRelays = true
        }
        self.migrateConnections(now: now)
        self.drainAllocations(now: now)
    }

    mutating func makeAllocation(_ server: TURNServer<RelayID>, now: Instant) -> Allocation {
        var logger = self.logger
        logger[metadataKey: "relay"] = "\(server.id)"
        return Allocation(
            server: server.socket,
            username: server.username,
            password: server.password,
            realm: server.realm,
            software: self.software,
            seed: self.rng.next(),
            now: now,
            logger: logger
        )
    }

    /// Forgets a relay: its relayed candidates are invalidated on the connections that use it, which then need
    /// another relay.
    mutating func removeRelay(_ id: RelayID) {
        guard let relay = self.relays.remove(id) else {
            return
        }
        self.logger.debug("Removing relay", metadata: ["relay": "\(id)"])
        for address in relay.allocation.relayedAddresses {
            self.invalidateLocalCandidate(.relayed(address), onRelay: id)
        }
        for (connection, state) in self.connections where state.relay == id {
            self.connections[connection]?.relay = nil
        }
    }

    /// A relay for a new or migrating connection: uniformly at random among the relays that have an allocation, or
    /// among all while none has one yet (as Firezone 685acdac3a does; later Firezone samples by RTT).
    mutating func sampleRelay() -> RelayID? {
        let allocated = self.relays.entries.filter { !$0.allocation.relayedAddresses.isEmpty }.map(\.id)
        let candidates = allocated.isEmpty ? self.relays.ids : allocated
        guard !candidates.isEmpty else {
            return nil
        }
        return candidates[Int(self.rng.next() % UInt64(candidates.count))]
    }

    /// Gives every connection without a relay a new one and signals that relay's candidates (Firezone's
    /// rust/connlib/snownet/src/node.rs).
    mutating func migrateConnections(now: Instant) {
        for id in Array(self.connections.keys) where self.connections[id]?.relay == nil {
            guard let relay = self.sampleRelay() else {
                return
            }
            self.connections[id]?.relay = relay
            self.logger.debug("Connection moves to relay", metadata: ["connection": "\(id)", "relay": "\(relay)"])
            for address in self.relays[relay]?.allocation.relayedAddresses ?? [] {
                self.addLocalCandidate(.relayed(address), to: id)
            }
            self.drainAgent(id, now: now)
            self.reschedule(id, now: now)
        }
    }

    /// A new connection's local candidates: every allocation's host and server-reflexive addresses, and its
    /// relay's relayed ones.
    mutating func addLocalCandidates(to id: ConnectionID) {
        for relay in self.relays.entries {
            for host in relay.allocation.hostAddresses {
                self.addLocalCandidate(.host(host), to: id)
            }
            for reflexive in relay.allocation.serverReflexiveAddresses {
                if let candidate = self.serverReflexiveCandidate(reflexive, of: relay.allocation) {
                    self.addLocalCandidate(candidate, to: id)
                }
            }
        }
        if let relay = self.connections[id]?.relay {
            for address in self.relays[relay]?.allocation.relayedAddresses ?? [] {
                self.addLocalCandidate(.relayed(address), to: id)
            }
        }
    }

    /// A server-reflexive candidate needs its base: the host socket of its family that talked to the relay.
    func serverReflexiveCandidate(_ address: IPSocketAddress, of allocation: Allocation) -> Candidate? {
        allocation.hostAddresses.first { $0.address.version == address.address.version }.map {
            .serverReflexive(address, base: $0)
        }
    }

    /// Adds a local candidate to a connection's agent and signals it, once: the same server-reflexive address seen
    /// through two relays is one candidate (Firezone 685acdac3a). Server-reflexive candidates are only signalled: the
    /// agent checks from their base, a host candidate (RFC 8445 §6.1.2.4).
    mutating func addLocalCandidate(_ candidate: Candidate, to id: ConnectionID) {
        guard var connection = self.connections[id],
            !connection.signalled.contains(where: { $0.kind == candidate.kind && $0.address == candidate.address })
        else {
            return
        }
        let signalled: Candidate?
        if candidate.kind == .serverReflexive {
            signalled = candidate
        } else {
            signalled = connection.agent.addLocalCandidate(candidate)
        }
        guard let signalled else {
            return
        }
        connection.signalled.append(signalled)
        self.connections[id] = connection
        self.candidateChanges[id, default: ([], [])].new.append(signalled)
    }

    /// Takes a local candidate back from every connection that has it (`onRelay`: only those on that relay).
    mutating func invalidateLocalCandidate(_ candidate: Candidate, onRelay relay: RelayID? = nil) {
        for (id, connection) in self.connections {
            if let relay, connection.relay != relay {
                continue
            }
            guard
                let index = connection.signalled.firstIndex(where: {
                    $0.kind == candidate.kind && $0.address == candidate.address
                })
            else {
                continue
            }
            let signalled = connection.signalled[index]
            self.connections[id]?.signalled.remove(at: index)
            if signalled.kind != .serverReflexive {
                self.connections[id]?.agent.invalidateLocalCandidate(signalled)
            }
            self.candidateChanges[id, default: ([], [])].invalidated.append(signalled)
        }
    }

    /// Drains every allocation: its datagrams go out, its address changes become candidate changes.
    mutating func drainAllocations(now: Instant) {
        // Handling an event never removes a relay, so the positions hold.
        for index in self.relays.entries.indices {
            while let transmit = self.relays.entries[index].allocation.pollTransmit() {
                self.transmits.append(
                    NodeTransmit(source: nil, destination: transmit.destination, payload: transmit.payload)
                )
            }
            while let event = self.relays.entries[index].allocation.pollEvent() {
                self.handleAllocationEvent(event, relay: self.relays.entries[index].id, now: now)
            }
        }
    }

    private mutating func handleAllocationEvent(_ event: AllocationEvent, relay relayID: RelayID, now: Instant) {
        guard let allocation = self.relays[relayID]?.allocation else {
            return
        }
        switch event {
        case .newAddress(.host, let address):
            for id in self.connections.keys {
                self.addLocalCandidate(.host(address), to: id)
            }
        case .newAddress(.serverReflexive, let address):
            guard let candidate = self.serverReflexiveCandidate(address, of: allocation) else {
                return
            }
            for id in self.connections.keys {
                self.addLocalCandidate(candidate, to: id)
            }
        case .newAddress(.relayed, let address):
            for (id, connection) in self.connections where connection.relay == relayID {
                self.addLocalCandidate(.relayed(address), to: id)
            }
            if self.connections.values.contains(where: { $0.relay == nil }) {
                self.migrateConnections(now: now)
            }
        case .invalidatedAddress(.host, let address):
            self.invalidateLocalCandidate(.host(address))
        case .invalidatedAddress(.serverReflexive, let address):
            self.invalidateLocalCandidate(.serverReflexive(address, base: address))
        case .invalidatedAddress(.relayed, let address):
            self.invalidateLocalCandidate(.relayed(address), onRelay: relayID)
        }
        // A new local candidate pairs with the remote ones the agent has: the checks it makes possible are due now,
        // and a connection that had nothing to check has no deadline yet.
        for id in Array(self.connections.keys) {
            self.drainAgent(id, now: now)
            self.reschedule(id, now: now)
        }
    }

    /// Frees the allocations that can never work again (Firezone's rust/connlib/snownet/src/allocation.rs), moves their
    /// connections, and reports ``NodeEvent/noRelays`` once the last one is gone.
    mutating func collectAllocations(now: Instant) {
        var index = 0
        var freed = false
        while index < self.relays.count {
            guard self.relays.entries[index].allocation.canBeFreed else {
                index += 1
                continue
            }
            let id = self.relays.entries[index].id
            self.logger.info("Relay unusable, freeing its allocation", metadata: ["relay": "\(id)"])
            self.removeRelay(id)
            freed = true
        }
        // Only connections of a freed relay lack one: every other change of the relays migrates them at once. Not
        // on every tick, as a look at each connection would make a tick's cost grow with their number.
        if freed {
            self.migrateConnections(now: now)
        }
        if self.relays.isEmpty && self.hadRelays {
            self.hadRelays = false
            self.events.append(.noRelays)
        }
    }
}
