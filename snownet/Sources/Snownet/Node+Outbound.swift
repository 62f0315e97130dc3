import DequeModule
import FirezoneTime
import ICE
import IPPacket
import NIOCore
import STUN
import WireGuard

extension Node {
    /// Encrypts the IP packet in `packet`'s readable bytes for a connection, in place: afterwards the readable
    /// bytes are the datagram to send to the returned destination (as WireGuard data, or wrapped in TURN channel
    /// data for a relayed path). `packet` needs ``NodeConstants/headroom`` bytes before its reader index and
    /// ``NodeConstants/tailroom`` after its writer index; then nothing is copied or allocated.
    ///
    /// Nil when nothing is to be sent now: the connection is being set up (a client keeps the packet until a
    /// path is nominated, a gateway drops it), the tunnel waits for a handshake (it keeps the packet), or the
    /// relayed path's channel is still being bound (dropped, counted).
    public mutating func encapsulate(
        _ packet: inout ByteBuffer,
        for id: ConnectionID,
        now: Instant
    ) throws(NodeError) -> NodeDestination? {
        self.lastNow = now
        guard var index = self.connectionIndex(of: id) else {
            throw .unknownConnection
        }
        guard self.withConnection(at: index, { $0.route != nil }) else {
            self.holdWhileConnecting(packet, for: id)
            return nil
        }
        if !self.noteApplicationTraffic(id, at: index, now: now) {
            guard let current = self.connectionIndex(of: id) else {
                return nil
            }
            index = current
        }
        switch self.router.encapsulate(&packet, for: id, now: now) {
        case .datagram:
            return self.route(at: index, datagram: &packet, now: now)
        case .queued, nil:
            self.drainTunnel(id, now: now)
            self.reschedule(id, now: now)
            self.finishInput()
            return nil
        }
    }

    private mutating func holdWhileConnecting(_ packet: ByteBuffer, for id: ConnectionID) {
        guard self.role == .client else {
            self.stats.packetsDroppedWhileConnecting += 1
            return
        }
        var copy = ByteBufferAllocator().buffer(capacity: packet.readableBytes)
        copy.writeImmutableBuffer(packet)
        if self.connections[id]?.pendingPackets.count ?? 0 >= NodeConstants.setupBufferCapacity {
            self.connections[id]?.pendingPackets.removeFirst()
            self.stats.packetsDroppedFromBuffer += 1
        }
        self.connections[id]?.pendingPackets.append(copy)
    }

    /// Where a sealed WireGuard datagram for `id` goes on its nominated path; for our relayed candidate, the
    /// channel-data header is written in front of it.
    /// By position: the keyed `connections[id]?.field = value` moves the whole connection out of the dictionary and
    /// back, in a coroutine whose frame is allocated (swift-collections' `OrderedDictionary.subscript` `_modify`): two
    /// mallocs per packet.
    private mutating func route(at index: Int, datagram: inout ByteBuffer, now: Instant) -> NodeDestination? {
        let (route, cachedChannel) = self.withConnection(at: index) { connection in
            connection.lastTunnelDatagramSent = now
            return (connection.route, connection.lastChannel)
        }
        guard let route else {
            return nil
        }
        if !route.relayed {
            return NodeDestination(source: route.local, destination: route.remote)
        }
        guard let relay = self.relayPosition(owning: route.local) else {
            self.stats.packetsDroppedWithoutChannel += 1
            return nil
        }
        var channel = cachedChannel
        let destination = self.wrapInChannelData(
            &datagram,
            relayAt: relay,
            to: route.remote,
            lastChannel: &channel,
            now: now
        )
        if destination != nil, channel != cachedChannel {
            self.withConnection(at: index) { $0.lastChannel = channel }
        }
        return destination
    }

    private mutating func wrapInChannelData(
        _ datagram: inout ByteBuffer,
        relayAt index: Int,
        to peer: IPSocketAddress,
        lastChannel: inout ChannelNumber?,
        now: Instant
    ) -> NodeDestination? {
        let sending = self.withRelay(at: index) { relay -> (ChannelNumber, IPSocketAddress?)? in
            // The channel this peer's last datagram went on, checked by number: no hash of the peer's address.
            if let channel = lastChannel, relay.allocation.canSend(on: channel, to: peer, now: now) {
                return (channel, relay.allocation.activeSocket)
            }
            return relay.allocation.channelForSending(to: peer, now: now).map { ($0, relay.allocation.activeSocket) }
        }
        guard let (channel, activeSocket) = sending, let server = activeSocket else {
            self.stats.packetsDroppedWithoutChannel += 1
            self.drainAllocations(now: now)
            return nil
        }
        lastChannel = channel
        if datagram.readerIndex >= ChannelData.headerLength {
            ChannelData.prependHeader(channelNumber: channel.value, to: &datagram)
        } else {
            // A control message (an ICE check) built without headroom: copied behind a header.
            var message = ByteBufferAllocator().buffer(capacity: ChannelData.headerLength + datagram.readableBytes)
            ChannelData(channelNumber: channel.value, payload: datagram).write(into: &message)
            datagram = message
        }
        return NodeDestination(source: nil, destination: server)
    }

    /// The position in ``relays`` of the relay whose allocation owns the relayed address `address` (a position, not
    /// an ID: per packet, a lookup by ID would hash it again).
    mutating func relayPosition(owning address: IPSocketAddress) -> Int? {
        self.relays.entries.indices.first { self.withRelay(at: $0, { $0.allocation.isRelayedAddress(address) }) }
    }

    /// Encrypts a copy of `packet` (a goodbye, a keep-alive's empty packet, a packet that waited for a path) for a
    /// connection and sends it over its path; a packet that needs a handshake first waits in the tunnel.
    /// `packet` itself is never sealed: a buffer without room is copied into one that has it, and one with room
    /// shares its storage with `packet`, so the seal's first write copies it (`ByteBuffer` is copy-on-write).
    mutating func encapsulateCopy(of packet: ByteBuffer, for id: ConnectionID, now: Instant) {
        var buffer = packet.withEncapsulationRoom()
        if case .datagram = self.router.encapsulate(&buffer, for: id, now: now) {
            self.sendOverPath(id, datagram: &buffer, now: now)
        }
    }

    /// Queues a sealed datagram for a connection's nominated path, or keeps it until one is nominated.
    mutating func sendOverPath(_ id: ConnectionID, datagram: inout ByteBuffer, now: Instant) {
        guard self.connections[id]?.nominated != nil else {
            if self.connections[id]?.pendingDatagrams.count ?? 0 >= NodeConstants.setupBufferCapacity {
                self.connections[id]?.pendingDatagrams.removeFirst()
                self.stats.packetsDroppedFromBuffer += 1
            }
            self.connections[id]?.pendingDatagrams.append(datagram)
            return
        }
        if let index = self.connections.index(forKey: id),
            let destination = self.route(at: index, datagram: &datagram, now: now)
        {
            self.transmits.append(
                NodeTransmit(source: destination.source, destination: destination.destination, payload: datagram)
            )
        }
    }

    /// Queues `payload` from our candidate base `local` (a host socket, or our relayed address, through its
    /// relay) to `remote`.
    mutating func send(_ payload: inout ByteBuffer, from local: IPSocketAddress, to remote: IPSocketAddress) {
        guard let relay = self.relayPosition(owning: local) else {
            self.transmits.append(NodeTransmit(source: local, destination: remote, payload: payload))
            return
        }
        var noChannelYet: ChannelNumber?
        if let destination = self.wrapInChannelData(
            &payload,
            relayAt: relay,
            to: remote,
            lastChannel: &noChannelYet,
            now: self.lastNow
        ) {
            self.transmits.append(
                NodeTransmit(source: destination.source, destination: destination.destination, payload: payload)
            )
        }
    }

    /// Everything the connection's tunnel wants sent (handshake messages, packets that waited for a session,
    /// keep-alives), and what happened to it.
    mutating func drainTunnel(_ id: ConnectionID, now: Instant) {
        while self.router.pollTransmit(for: id, into: &self.scratch, now: now) {
            var datagram = ByteBufferAllocator().buffer(
                capacity: ChannelData.headerLength + self.scratch.readableBytes
            )
            datagram.moveWriterIndex(forwardBy: ChannelData.headerLength)
            datagram.moveReaderIndex(forwardBy: ChannelData.headerLength)
            datagram.writeImmutableBuffer(self.scratch)
            self.sendOverPath(id, datagram: &datagram, now: now)
        }
        while let event = self.router.pollEvent(for: id) {
            switch event {
            case .handshakeCompleted:
                self.connections[id]?.handshakeCompleted = true
                self.reportEstablished(id)
            case .connectionExpired:
                self.fail(id, .handshakeTimedOut)
                return
            }
        }
    }

    /// Reports a connection established once it has both a nominated path and a WireGuard session (reference
    /// Firezone 685acdac3a reported it at the first handshake message, before a path might exist).
    private mutating func reportEstablished(_ id: ConnectionID) {
        guard let connection = self.connections[id], !connection.established, connection.handshakeCompleted,
            let path = connection.path
        else {
            return
        }
        self.connections[id]?.established = true
        self.stats.connectionsEstablished += 1
        self.logger.info("Connection established", metadata: ["connection": "\(id)", "path": "\(path)"])
        self.events.append(.connectionEstablished(id, path))
    }

    /// Everything the connection's ICE agent wants sent, and what it decided.
    mutating func drainAgent(_ id: ConnectionID, now: Instant) {
        while let transmit = self.connections[id]?.agent.pollTransmit() {
            self.noteRequest(transmit.payload, from: id, now: now)
            var payload = transmit.payload
            self.send(&payload, from: transmit.source, to: transmit.destination)
        }
        while let event = self.connections[id]?.agent.pollEvent() {
            switch event {
            case .nominated(let local, let remote):
                self.nominate(id, local: local, remote: remote, now: now)
            case .stateChanged(.disconnected):
                self.fail(id, .iceDisconnected)
                return
            case .stateChanged:
                break
            }
        }
    }

    /// Remembers which connection sent an ICE request, to route the response by its transaction.
    private mutating func noteRequest(_ payload: ByteBuffer, from id: ConnectionID, now: Instant) {
        guard let type = payload.getInteger(at: payload.readerIndex, as: UInt16.self),
            STUNMessageType(rawValue: type)?.class == .request,
            let transaction = payload.getTransactionID(at: payload.readerIndex + 8)
        else {
            return
        }
        self.requestOwners[transaction] = id
        self.requestExpiries.append((now + NodeConstants.transactionLifetime, transaction))
    }

    /// ICE chose a pair: data goes there from now on. The first nomination sends what waited for a path; the
    /// client then starts a handshake (on a re-nomination too, so that the new path carries a fresh session at
    /// once; the tunnel debounces it).
    private mutating func nominate(_ id: ConnectionID, local: Candidate, remote: Candidate, now: Instant) {
        guard var connection = self.connections[id] else {
            return
        }
        let previous = connection.path
        connection.nominated = (local, remote)
        if case .connecting = connection.state {
            connection.state = .connected
            connection.lastApplicationTraffic = now
        }
        let datagrams = connection.pendingDatagrams
        let packets = connection.pendingPackets
        // Emptied with their storage: a gateway keeps thousands of connections that never buffer again.
        connection.pendingDatagrams = []
        connection.pendingPackets = []
        self.connections[id] = connection
        self.logger.debug(
            "Nominated",
            metadata: ["connection": "\(id)", "local": "\(local)", "remote": "\(remote)"]
        )
        for var datagram in datagrams {
            self.sendOverPath(id, datagram: &datagram, now: now)
        }
        if self.role == .client {
            self.router.rollOverSession(for: id, now: now)
        }
        for packet in packets {
            self.encapsulateCopy(of: packet, for: id, now: now)
        }
        self.drainTunnel(id, now: now)
        if let path = self.connections[id]?.path, let previous, path != previous,
            self.connections[id]?.established == true
        {
            self.events.append(.connectionPathChanged(id, path))
        }
        self.reportEstablished(id)
    }

    /// Ends every input: the candidate changes it made go out as one batch per connection, highest priority first.
    mutating func finishInput() {
        guard !self.candidateChanges.isEmpty else {
            return
        }
        for (id, changes) in self.candidateChanges {
            if !changes.invalidated.isEmpty {
                self.events.append(.invalidatedIceCandidates(id, Self.batch(changes.invalidated)))
            }
            if !changes.new.isEmpty {
                self.events.append(.newIceCandidates(id, Self.batch(changes.new)))
            }
        }
        self.candidateChanges.removeAll()
    }

    private static func batch(_ candidates: [Candidate]) -> [String] {
        var seen: Set<String> = []
        // Equal priorities in SDP order, so that the batch never depends on the order of the input's changes.
        return candidates.sorted { ($0.priority, $1.sdp) > ($1.priority, $0.sdp) }.map(\.sdp).filter {
            seen.insert($0).inserted
        }
    }
}
