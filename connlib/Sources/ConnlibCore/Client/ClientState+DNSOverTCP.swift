import FirezoneCrypto
import FirezoneTime
import IPPacket
import NIOCore

extension ClientState {
    /// A query read from a TCP connection that went through the tunnel over UDP: the application's port and the
    /// query's message ID, which RFC 7766 §6.2.1.1 requires to differ among the queries pipelined on a connection.
    struct TCPTunnelledQuery: Hashable {
        var clientPort: UInt16
        var messageID: UInt16
    }

    /// The DNS-over-TCP server's initial sequence numbers come from the client's seed, hashed apart from what
    /// snownet draws from the same seed so that a sequence number reveals nothing of it.
    static func sequenceNumberSeed(_ seed: Bytes32) -> UInt64 {
        let digest = SHA256.hash(seed.bytes + Array("connlib DNS over TCP sequence numbers".utf8))
        return digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The DNS-over-TCP server's counters, for the shell to publish.
    public var dnsOverTCPStats: DNSTCPServerStats {
        self.dnsOverTCP.stats
    }

    /// A TCP segment to a sentinel: the server answers the handshake and hands out whole queries, each resolved as
    /// a UDP query is (``StubResolver/handleQuery(_:sentinel:)``), the answer framed back on the connection.
    mutating func handleDNSOverTCP(_ packet: IPPacket, now: Instant) {
        self.dnsOverTCP.handleSegment(packet, now: now)
        self.drainDNSOverTCP(now: now)
    }

    /// Resolves the queries the server read and writes its segments into the TUN device.
    mutating func drainDNSOverTCP(now: Instant) {
        while let query = self.dnsOverTCP.pollQuery() {
            self.resolve(query, now: now)
        }
        while let segment = self.dnsOverTCP.pollSegment() {
            self.tunWrites.append(segment)
        }
    }

    private mutating func resolve(_ query: DNSTCPQuery, now: Instant) {
        let connection = query.connection
        let sentinel = connection.local
        switch self.stub.handleQuery(query.message, sentinel: sentinel.address) {
        case .answer(let bytes, let resolved):
            if let resolved {
                self.noteResolved(resolved)
            }
            self.dnsOverTCP.sendAnswer(bytes, on: connection, now: now)
        case .forwardToGateway(let resource, let message):
            // The gateway's DNS server listens on UDP; its answer comes back on this connection.
            guard let packet = self.tunnelledPacket(message, from: connection) else {
                return
            }
            self.forwardToGateway(packet, resource: resource, sentinel: sentinel, now: now)
        case .recurse(let upstream, let message, let viaTunnel):
            if viaTunnel {
                // Over UDP through the tunnel, like connlib. An answer with the TC bit set goes back on the
                // connection as it is: the application sees a truncated answer over TCP and retries or gives up.
                guard let packet = self.tunnelledPacket(message, from: connection) else {
                    return
                }
                self.recurseThroughTunnel(packet, to: upstream, sentinel: sentinel, now: now)
            } else {
                var recursive = RecursiveDNSQuery(
                    server: upstream,
                    query: message,
                    client: connection.remote,
                    sentinel: sentinel,
                    transport: .tcp
                )
                recursive.connection = connection
                self.dnsQueries.append(recursive)
            }
        case .drop(.malformedQuery):
            self.dnsOverTCP.abort(connection, reason: .malformedQuery, now: now)
        case .drop(.noUpstream):
            // No resolver stands behind this sentinel: the application learns at once rather than at its timeout.
            self.stats.count(.unknownSentinel)
            self.dnsOverTCP.abort(connection, reason: .malformedQuery, now: now)
        }
    }

    /// The UDP packet the query would have been had the application asked over UDP, marked as coming from its
    /// connection so that the answer finds the way back.
    private mutating func tunnelledPacket(_ message: ByteBuffer, from connection: DNSTCPConnectionID) -> IPPacket? {
        guard let messageID = message.getInteger(at: message.readerIndex, as: UInt16.self) else {
            return nil
        }
        let packet: IPPacket
        do {
            packet = try IPPacket.makeUDP(
                source: connection.remote.address,
                sourcePort: connection.remote.port,
                destination: connection.local.address,
                destinationPort: connection.local.port,
                payload: message
            )
        } catch {
            self.stats.count(.malformed)
            return nil
        }
        self.tcpTunnelledQueries.insert(
            connection,
            for: TCPTunnelledQuery(clientPort: connection.remote.port, messageID: messageID)
        )
        return packet
    }

    /// The connection a UDP query through the tunnel was read from, if it came over TCP.
    mutating func tcpOrigin(of packet: IPPacket) -> DNSTCPConnectionID? {
        guard let udp = packet.udp,
            let messageID = packet.payload.getInteger(at: packet.payload.readerIndex, as: UInt16.self)
        else {
            return nil
        }
        return self.tcpTunnelledQueries.value(for: TCPTunnelledQuery(clientPort: udp.sourcePort, messageID: messageID))
    }

    /// An answer from the tunnel to a query that came over TCP: it goes back on the connection. True when the
    /// packet was one.
    mutating func takeAnswerOverTCP(_ packet: IPPacket, now: Instant) -> Bool {
        // Per packet from a gateway: no hash while no query is outstanding.
        guard !self.tcpTunnelledQueries.isEmpty, let udp = packet.udp,
            let messageID = packet.payload.getInteger(at: packet.payload.readerIndex, as: UInt16.self),
            let connection = self.tcpTunnelledQueries.value(
                for: TCPTunnelledQuery(clientPort: udp.destinationPort, messageID: messageID)
            ),
            connection.remote.address == packet.destination
        else {
            return false
        }
        self.answerOverTCP(packet.payload, on: connection, now: now)
        return true
    }

    mutating func answerOverTCP(_ answer: ByteBuffer, on connection: DNSTCPConnectionID, now: Instant) {
        self.dnsOverTCP.sendAnswer(answer, on: connection, now: now)
        self.drainDNSOverTCP(now: now)
    }
}
