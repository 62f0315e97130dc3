import FirezoneTime
import ICE
import IPPacket
import NIOCore
import STUN
import WireGuard

extension Node {
    /// Takes one datagram that arrived on our local socket `local` from `source` (Firezone's
    /// rust/connlib/snownet/src/node.rs): relay traffic (from port 3478 of one of our relays: TURN responses, or
    /// channel data unwrapped and taken as coming from the peer to our relayed address), then ICE checks, then
    /// WireGuard.  Returns the connection whose decrypted IP packet is now `datagram`'s readable bytes, or nil when the
    /// datagram was for the node itself (drain the outputs). A refused datagram is thrown and counted in ``stats``.
    public mutating func decapsulate(
        _ datagram: inout ByteBuffer,
        from source: IPSocketAddress,
        local: IPSocketAddress,
        now: Instant
    ) throws(NodeError) -> ConnectionID? {
        self.lastNow = now
        defer { self.finishInput() }
        var source = source
        var local = local
        // The first eight bytes: a STUN message's type and cookie. Relay traffic has them after the channel header.
        var head: UInt64?
        if source.port == NodeConstants.relayPort, let relayHead = Self.relayHead(of: datagram),
            case let first = UInt8(truncatingIfNeeded: relayHead.word >> 24),
            first <= 3 || (0x40...0x4F).contains(first)
        {
            guard let relay = self.relayPosition(at: source) else {
                // Firezone 685acdac3a: relay traffic from no relay of ours is dropped.
                self.stats.datagramsFromUnknownRelays += 1
                throw .unknownRelay
            }
            if first <= 3 {
                try self.handleRelayMessage(datagram, from: source, local: local, relayAt: relay, now: now)
                return nil
            }
            let peer = try self.unwrapChannelData(&datagram, header: relayHead.word, relayAt: relay, now: now)
            source = peer.source
            local = peer.local
            head = relayHead.payload
        } else {
            head = datagram.getInteger(at: datagram.readerIndex, as: UInt64.self)
        }
        if let message = Self.iceMessage(in: datagram, head: head) {
            try self.handleICEMessage(message, from: source, to: local, now: now)
            return nil
        }
        let result: WireGuardRouterResult<ConnectionID>
        do throws(WireGuardRouterError) {
            result = try self.router.decapsulate(
                &datagram,
                from: source,
                cookieSource: CookieSource(source),
                reply: &self.reply,
                now: now
            )
        } catch {
            self.stats.wireGuardRejections += 1
            throw .wireGuard(error)
        }
        switch result {
        case .packet(let id):
            if let index = self.connectionIndex(of: id) {
                self.noteApplicationTraffic(id, at: index, now: now)
            }
            return id
        case .keepalive:
            return nil
        case .handshake(let id):
            self.drainTunnel(id, now: now)
            self.reschedule(id, now: now)
            return nil
        case .sendCookieReply:
            var reply = self.reply
            self.send(&reply, from: local, to: source)
            return nil
        }
    }

    private mutating func handleRelayMessage(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        local: IPSocketAddress,
        relayAt index: Int,
        now: Instant
    ) throws(NodeError) {
        let message: STUNMessage
        do throws(STUNDecodeError) {
            message = try STUNMessage(decoding: datagram)
        } catch {
            self.stats.unexpectedRelayMessages += 1
            throw .unexpectedRelayMessage
        }
        let handled = self.relays.entries[index].allocation.handleSTUN(message, from: source, local: local, now: now)
        self.drainAllocations(now: now)
        guard handled else {
            self.stats.unexpectedRelayMessages += 1
            throw .unexpectedRelayMessage
        }
    }

    /// Strips the channel-data header in place; the payload came from the channel's peer to our relayed address.
    /// Firezone 685acdac3a: the declared length must be the payload's length exactly.
    private mutating func unwrapChannelData(
        _ datagram: inout ByteBuffer,
        header: UInt32,
        relayAt index: Int,
        now: Instant
    ) throws(NodeError) -> (source: IPSocketAddress, local: IPSocketAddress) {
        let number = UInt16(truncatingIfNeeded: header >> 16)
        let length = UInt16(truncatingIfNeeded: header)
        guard ChannelData.channelNumbers.contains(number),
            Int(length) == datagram.readableBytes - ChannelData.headerLength,
            let (peer, relayed) = self.withRelay(
                at: index,
                { relay in
                    relay.allocation.peer(forChannel: ChannelNumber(number), now: now).map { peer in
                        (peer, relay.allocation.relayedAddress(of: peer.address.version))
                    }
                }
            ),
            let relayed
        else {
            self.stats.invalidChannelData += 1
            throw .invalidChannelData
        }
        datagram.moveReaderIndex(forwardBy: ChannelData.headerLength)
        return (peer, relayed)
    }

    /// The first bytes of a datagram from a relay's port in one access (each `ByteBuffer` access checks exclusivity at
    /// run time). `word`, the first four: the first byte tells STUN from channel data, whose number and length follow;
    /// a shorter datagram's bytes fill its top, so that its first byte is still there and a channel-data header read
    /// from it is invalid. `payload`, the eight after them: what ``iceMessage(in:head:)`` looks at in channel data.
    private static func relayHead(of datagram: ByteBuffer) -> (word: UInt32, payload: UInt64?)? {
        datagram.withUnsafeReadableBytes { raw in
            guard let first = raw.first else {
                return nil
            }
            guard raw.count >= ChannelData.headerLength else {
                return (UInt32(first) << 24, nil)
            }
            let word = UInt32(bigEndian: raw.loadUnaligned(as: UInt32.self))
            guard raw.count >= ChannelData.headerLength + 8 else {
                return (word, nil)
            }
            return (
                word, UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: ChannelData.headerLength, as: UInt64.self))
            )
        }
    }

    /// The position in ``relays`` of the relay whose server sent a datagram from `source` (`Allocation.isServer`
    /// builds an array per call; a position, not an ID, so that the packet's later steps need not look it up again).
    private mutating func relayPosition(at source: IPSocketAddress) -> Int? {
        self.relays.entries.indices.first { self.withRelay(at: $0, { $0.server.socket.contains(source) }) }
    }

    /// A STUN message between peers: the magic cookie tells it from WireGuard, whose first bytes are also 1–4.
    /// `head` is the datagram's first eight bytes (a STUN header is 20 bytes, WireGuard's shortest message 32).
    private static func iceMessage(in datagram: ByteBuffer, head: UInt64?) -> STUNMessage? {
        guard let head, head >> 56 <= 3, UInt32(truncatingIfNeeded: head) == STUNConstants.magicCookie else {
            return nil
        }
        return try? STUNMessage(decoding: datagram)
    }

    /// Routes a peer's ICE message to its connection: requests by the first half of USERNAME (our ufrag, unique
    /// per connection), responses by the transaction we sent (Firezone's rust/connlib/snownet/src/node.rs).
    private mutating func handleICEMessage(
        _ message: STUNMessage,
        from source: IPSocketAddress,
        to local: IPSocketAddress,
        now: Instant
    ) throws(NodeError) {
        let owner: ConnectionID?
        if message.type.class == .request {
            owner = message.username
                .flatMap { $0.split(separator: ":", maxSplits: 1).first }
                .flatMap { self.connectionByUfrag[String($0)] }
        } else {
            owner = self.requestOwners[message.transactionID]
        }
        guard let id = owner, self.connections[id]?.agent.accepts(message) == true else {
            self.stats.unroutedSTUN += 1
            throw .unroutedSTUN
        }
        self.connections[id]?.agent.handleSTUN(message, from: source, to: local, now: now)
        self.drainAgent(id, now: now)
        self.reschedule(id, now: now)
    }

    /// Application traffic either way keeps a connection active, and wakes an idle one at once. Per packet: by
    /// position, without copying the connection (see ``route(at:datagram:now:)``). False when the connection was
    /// idle: waking it ran its ICE agent, which may have failed it, and positions may have moved.
    @discardableResult
    mutating func noteApplicationTraffic(_ id: ConnectionID, at index: Int, now: Instant) -> Bool {
        let woke = self.withConnection(at: index) { connection in
            connection.lastApplicationTraffic = now
            guard case .idle = connection.state else {
                return false
            }
            connection.state = .connected
            connection.agent.setIdle(false, now: now)
            return true
        }
        guard woke else {
            return true
        }
        self.router.setLowPower(false, for: id)
        self.drainAgent(id, now: now)
        self.reschedule(id, now: now)
        return false
    }
}
