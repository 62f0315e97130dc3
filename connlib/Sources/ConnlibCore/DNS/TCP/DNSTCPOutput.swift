import DequeModule
import IPPacket
import NIOCore

/// What ``DNSTCPServer``'s connections produce: segments for the TUN device, queries for the stub, counters.
struct DNSTCPOutput {
    var segments: Deque<IPPacket> = []
    var queries: Deque<DNSTCPQuery> = []
    var stats = DNSTCPServerStats()

    /// RFC 9293 §3.7.1: the MSS we accept, from the TUN device's MTU less the IP and TCP headers.
    static func ourMSS(_ version: IPVersion) -> Int {
        let ipHeader =
            version == .v4 ? IPPacketConstants.ipv4MinimumHeaderLength : IPPacketConstants.ipv6HeaderLength
        return IPPacketConstants.maximumPacketLength - ipHeader - IPPacketConstants.tcpMinimumHeaderLength
    }

    /// A segment from the sentinel to the application.
    mutating func segment(
        _ id: DNSTCPConnectionID,
        sequence: UInt32,
        acknowledgment: UInt32,
        flags: TCPFlags,
        window: Int,
        payload: ByteBuffer = ByteBuffer(),
        announceMSS: Bool = false
    ) {
        var options = ByteBuffer()
        if announceMSS {
            // RFC 9293 §3.2: kind 2, length 4, the MSS in two bytes.
            options.writeInteger(UInt8(2))
            options.writeInteger(UInt8(4))
            options.writeInteger(UInt16(Self.ourMSS(id.local.address.version)))
        }
        self.emit(
            from: id.local,
            to: id.remote,
            sequence: sequence,
            acknowledgment: acknowledgment,
            flags: flags,
            window: UInt16(clamping: window),
            options: options,
            payload: payload
        )
    }

    /// A reset <SEQ=sequence><CTL=RST> on a connection.
    mutating func reset(_ id: DNSTCPConnectionID, sequence: UInt32) {
        self.stats.resetsSent += 1
        self.emit(from: id.local, to: id.remote, sequence: sequence, acknowledgment: 0, flags: .rst, window: 0)
    }

    /// RFC 9293 §3.10.7.1, the reply to a segment for no connection: "If the ACK bit is off, sequence number zero
    /// is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>." A reset
    /// is never answered.
    mutating func refuse(_ packet: IPPacket, _ tcp: TCPHeader) {
        let flags = tcp.flags
        guard !flags.contains(.rst) else {
            return
        }
        self.stats.count(.noConnection)
        self.stats.resetsSent += 1
        let local = IPSocketAddress(packet.destination, port: tcp.destinationPort)
        let remote = IPSocketAddress(packet.source, port: tcp.sourcePort)
        if flags.contains(.ack) {
            self.emit(
                from: local,
                to: remote,
                sequence: tcp.acknowledgmentNumber,
                acknowledgment: 0,
                flags: .rst,
                window: 0
            )
            return
        }
        // SEG.LEN counts the SYN and FIN flags (RFC 9293 §3.4).
        let length = packet.payload.readableBytes + (flags.contains(.syn) ? 1 : 0) + (flags.contains(.fin) ? 1 : 0)
        self.emit(
            from: local,
            to: remote,
            sequence: 0,
            acknowledgment: tcp.sequenceNumber &+ UInt32(length),
            flags: [.rst, .ack],
            window: 0
        )
    }

    private mutating func emit(
        from local: IPSocketAddress,
        to remote: IPSocketAddress,
        sequence: UInt32,
        acknowledgment: UInt32,
        flags: TCPFlags,
        window: UInt16,
        options: ByteBuffer = ByteBuffer(),
        payload: ByteBuffer = ByteBuffer()
    ) {
        do {
            self.segments.append(
                try IPPacket.makeTCP(
                    source: local.address,
                    sourcePort: local.port,
                    destination: remote.address,
                    destinationPort: remote.port,
                    sequenceNumber: sequence,
                    acknowledgmentNumber: acknowledgment,
                    flags: flags,
                    window: window,
                    options: options,
                    payload: payload
                )
            )
        } catch {
            preconditionFailure("segments fit the TUN MTU by construction (MSS, same-family addresses): \(error)")
        }
    }
}
