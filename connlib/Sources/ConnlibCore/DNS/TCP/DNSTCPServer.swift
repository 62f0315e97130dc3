import DequeModule
import FirezoneCrypto
import FirezoneTime
import IPPacket
import NIOCore
import OrderedCollections

/// The DNS stub's TCP side: a sans-IO TCP responder on port 53 of every sentinel address, IPv4 and IPv6, fed the
/// TCP segments the TUN device reads (Firezone runs a smoltcp server per sentinel for the same purpose:
/// rust/connlib/dns-over-tcp/src/server.rs). It is RFC 9293's server side reduced to what DNS over TCP (RFC 7766)
/// needs; every connection's state is bounded (``DNSTCPServerConstants``) whatever the host sends.
///
/// Driving loop: hand each TCP packet for a sentinel to ``handleSegment(_:now:)``; take the complete queries with
/// ``pollQuery()`` and answer each with ``sendAnswer(_:on:now:)`` (now or later, in any order: RFC 7766 §6.2.1.1),
/// or refuse one with ``abort(_:reason:now:)``; write every ``pollSegment()`` to the TUN device; call
/// ``handleTimeout(now:)`` at ``pollTimeout()``.
public struct DNSTCPServer {
    private var connections: OrderedDictionary<DNSTCPConnectionEnds, DNSTCPConnection> = [:]
    private var output = DNSTCPOutput()
    private var isnGenerator: KeyStream
    private var nextSerial: UInt64 = 0

    /// `seed` keys the initial sequence numbers (RFC 9293 §3.4.1 wants them hard to guess; the shell passes
    /// randomness, tests a constant).
    public init(seed: UInt64) {
        self.isnGenerator = KeyStream(seed: seed)
    }

    public var stats: DNSTCPServerStats {
        self.output.stats
    }

    /// Open connections, those in TIME-WAIT included.
    public var connectionCount: Int {
        self.connections.count
    }

    /// Bytes held across connections: received and not yet queries, answers not yet acknowledged.
    public var bufferedBytes: Int {
        self.connections.values.reduce(0) { $0 + $1.bufferedBytes }
    }

    // MARK: Output

    /// The next segment for the TUN device.
    public mutating func pollSegment() -> IPPacket? {
        self.output.segments.popFirst()
    }

    /// The next complete query.
    public mutating func pollQuery() -> DNSTCPQuery? {
        self.output.queries.popFirst()
    }

    public func pollTimeout() -> (deadline: Instant, reason: StaticString)? {
        var earliest: Instant?
        for connection in self.connections.values {
            if let deadline = connection.deadline, earliest.map({ deadline < $0 }) ?? true {
                earliest = deadline
            }
        }
        return earliest.map { ($0, "DNS over TCP") }
    }

    // MARK: Input

    /// A TCP segment from the TUN device to a sentinel. Anything else is counted and dropped.
    public mutating func handleSegment(_ packet: IPPacket, now: Instant) {
        guard let tcp = packet.tcp else {
            self.output.stats.count(.notTCP)
            return
        }
        let ends = DNSTCPConnectionEnds(
            local: IPSocketAddress(packet.destination, port: tcp.destinationPort),
            remote: IPSocketAddress(packet.source, port: tcp.sourcePort)
        )
        if let existing = self.connections[ends] {
            // RFC 9293 §3.6.1: a new SYN may reopen a connection in TIME-WAIT.
            guard existing.isTimeWait, tcp.flags.contains(.syn), !tcp.flags.contains(.ack) else {
                let outcome = self.connections[ends]!.handle(
                    tcp,
                    payload: packet.payload,
                    output: &self.output,
                    now: now
                )
                self.settle(ends, outcome)
                return
            }
            self.connections.removeValue(forKey: ends)
        }
        let flags = tcp.flags
        guard ends.local.port == DNSConstants.port, flags.contains(.syn),
            flags.isDisjoint(with: [.ack, .rst, .fin])
        else {
            self.output.refuse(packet, tcp)
            return
        }
        self.accept(ends, tcp, now: now)
    }

    /// An answer to a query read from `connection`: framed and sent. False when the connection is gone (the
    /// answer is dropped and counted) or cannot take it (the connection is reset).
    @discardableResult
    public mutating func sendAnswer(_ message: ByteBuffer, on connection: DNSTCPConnectionID, now: Instant) -> Bool {
        let ends = connection.ends
        guard self.connections[ends]?.id == connection else {
            self.output.stats.count(.answerForClosedConnection)
            return false
        }
        let outcome = self.connections[ends]!.queueAnswer(message, output: &self.output, now: now)
        self.settle(ends, outcome)
        return self.connections[ends] != nil
    }

    /// Resets `connection`, counting `reason` (a malformed query, say).
    public mutating func abort(_ connection: DNSTCPConnectionID, reason: DNSTCPDropReason, now: Instant) {
        let ends = connection.ends
        guard self.connections[ends]?.id == connection else {
            return
        }
        self.connections[ends]!.abort(reason: reason, output: &self.output)
        self.connections.removeValue(forKey: ends)
    }

    public mutating func handleTimeout(now: Instant) {
        var index = 0
        while index < self.connections.count {
            let ends = self.connections.keys[index]
            guard let deadline = self.connections.values[index].deadline, deadline <= now else {
                index += 1
                continue
            }
            let outcome = self.connections.values[index].handleTimeout(output: &self.output, now: now)
            if case .remove = outcome {
                self.connections.removeValue(forKey: ends)
            } else if self.connections.values[index].aborted {
                self.connections.removeValue(forKey: ends)
            } else {
                index += 1
            }
        }
    }

    // MARK: Connections

    private mutating func accept(_ ends: DNSTCPConnectionEnds, _ tcp: TCPHeader, now: Instant) {
        if self.connections.count >= DNSTCPServerConstants.maximumConnections {
            self.evictLeastRecentlyActive()
        }
        let version = ends.local.address.version
        let peerMSS =
            Self.announcedMSS(tcp.options)
            ?? (version == .v4 ? DNSTCPServerConstants.defaultMSSv4 : DNSTCPServerConstants.defaultMSSv6)
        let sendMSS = max(DNSTCPServerConstants.minimumMSS, min(peerMSS, DNSTCPOutput.ourMSS(version)))
        self.nextSerial += 1
        let id = DNSTCPConnectionID(local: ends.local, remote: ends.remote, serial: self.nextSerial)
        let connection = DNSTCPConnection(
            id: id,
            initialSendSequence: UInt32(truncatingIfNeeded: self.isnGenerator.next()),
            peerSequence: tcp.sequenceNumber,
            sendMSS: sendMSS,
            now: now
        )
        // Data on the SYN is not kept (no TCP Fast Open): the peer sends it again after the handshake.
        connection.sendSynAcknowledgment(output: &self.output)
        self.connections[ends] = connection
        self.output.stats.connectionsAccepted += 1
    }

    /// The table is full: the connection that has been quiet the longest makes room (ties: the oldest).
    private mutating func evictLeastRecentlyActive() {
        var victim = 0
        for index in self.connections.values.indices
        where self.connections.values[index].lastActivity < self.connections.values[victim].lastActivity {
            victim = index
        }
        self.connections.values[victim].abort(reason: .evicted, output: &self.output)
        self.connections.remove(at: victim)
    }

    private mutating func settle(_ ends: DNSTCPConnectionEnds, _ outcome: DNSTCPConnection.Outcome) {
        if case .remove = outcome {
            self.connections.removeValue(forKey: ends)
        } else if self.connections[ends]?.aborted == true {
            self.connections.removeValue(forKey: ends)
        }
    }

    /// The MSS option of a SYN (RFC 9293 §3.2: kind 2, length 4), if any; malformed options end the walk.
    static func announcedMSS(_ options: ByteBuffer) -> Int? {
        var options = options
        while let kind = options.readInteger(as: UInt8.self) {
            switch kind {
            case 0:
                return nil
            case 1:
                continue
            default:
                guard let length = options.readInteger(as: UInt8.self), length >= 2,
                    let body = options.readSlice(length: Int(length) - 2)
                else {
                    return nil
                }
                if kind == 2, length == 4, let mss = body.getInteger(at: body.readerIndex, as: UInt16.self) {
                    return Int(mss)
                }
            }
        }
        return nil
    }
}
