import ConnlibCore
import FirezoneTime
import FuzzSupport
import IPPacket
import NIOCore

// The `dns-tcp-server` fuzz target: the client's DNS-over-TCP responder driven by an arbitrary sequence of
// records, each one of
//
//   0 ENDPOINT(2) FLAGS(1) SEQ(2) ACK(2) WINDOW(2) MSS(2) LENGTH(1) PAYLOAD(LENGTH)
//       a TCP segment from the application at port 40000 + ENDPOINT & 0xFF (IPv6 when bit 8 is set) to a sentinel's
//       port 53 (port 54 when bit 9 is set). SEQ and ACK are signed offsets from what the server expects: its last
//       acknowledgment number to that endpoint and the end of what it sent there, so that the fuzzer reaches
//       established connections without guessing sequence numbers. MSS 0 sends no MSS option.
//   1 MILLISECONDS(2)
//       time passes; the server's timers run.
//   2 LENGTH(2)
//       the oldest query read gets an answer of LENGTH & 0x1FFF bytes, or (bit 15) its connection is aborted.
//
// After every record: nothing trapped; the connection table holds at most its cap; the buffered bytes stay within
// the per-connection bounds; every segment the server wrote is a valid TCP packet from port 53 or 54 of a sentinel
// within the TUN MTU; after a timeout no deadline is already due; the queries waiting for answers stay bounded.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = ByteBuffer(bytes: UnsafeBufferPointer(start: start, count: start == nil ? 0 : count))
    var harness = Harness()
    while let op = input.readInteger(as: UInt8.self) {
        switch op % 3 {
        case 0:
            guard let endpoint = input.readInteger(as: UInt16.self), let flags = input.readInteger(as: UInt8.self),
                let sequence = input.readInteger(as: Int16.self),
                let acknowledgment = input.readInteger(as: Int16.self),
                let window = input.readInteger(as: UInt16.self), let mss = input.readInteger(as: UInt16.self),
                let length = input.readInteger(as: UInt8.self)
            else {
                return 0
            }
            let payload = input.readSlice(length: min(Int(length), input.readableBytes)) ?? ByteBuffer()
            harness.segment(
                endpoint: endpoint,
                flags: TCPFlags(rawValue: flags),
                sequenceOffset: sequence,
                acknowledgmentOffset: acknowledgment,
                window: window,
                mss: mss,
                payload: payload
            )
        case 1:
            guard let milliseconds = input.readInteger(as: UInt16.self) else {
                return 0
            }
            harness.advance(by: .milliseconds(Int64(milliseconds)))
        default:
            guard let length = input.readInteger(as: UInt16.self) else {
                return 0
            }
            harness.answer(length: Int(length & 0x1FFF), abort: length & 0x8000 != 0)
        }
        harness.checkInvariants()
    }
    return 0
}

let sentinelV4 = IPAddress.v4(IPv4Address(100, 100, 111, 1))
let sentinelV6 = IPAddress.v6(IPv6Address(high: 0xfd00_2021_1111_8000, low: 0x0100_0100_0111_0001))
let applicationV4 = IPAddress.v4(IPv4Address(100, 64, 0, 9))
let applicationV6 = IPAddress.v6(IPv6Address(high: 0xfd00_2021_1111_0000, low: 9))

struct Harness {
    var server = DNSTCPServer(seed: 1)
    var now = Instant(nanoseconds: 1_000_000_000)
    var queries: [DNSTCPQuery] = []
    /// What the server last told each application endpoint: its acknowledgment number and the end of its data.
    var expected: [IPSocketAddress: (acknowledgment: UInt32, sent: UInt32)] = [:]

    mutating func segment(
        endpoint: UInt16,
        flags: TCPFlags,
        sequenceOffset: Int16,
        acknowledgmentOffset: Int16,
        window: UInt16,
        mss: UInt16,
        payload: ByteBuffer
    ) {
        let v6 = endpoint & 0x100 != 0
        let source = IPSocketAddress(v6 ? applicationV6 : applicationV4, port: 40000 + (endpoint & 0xFF))
        let destination = IPSocketAddress(v6 ? sentinelV6 : sentinelV4, port: endpoint & 0x200 != 0 ? 54 : 53)
        let base = self.expected[source] ?? (0, 0)
        var options = ByteBuffer()
        if mss != 0 {
            options.writeInteger(UInt8(2))
            options.writeInteger(UInt8(4))
            options.writeInteger(mss)
        }
        let packet: IPPacket
        do {
            packet = try IPPacket.makeTCP(
                source: source.address,
                sourcePort: source.port,
                destination: destination.address,
                destinationPort: destination.port,
                sequenceNumber: base.acknowledgment &+ UInt32(bitPattern: Int32(sequenceOffset)),
                acknowledgmentNumber: base.sent &+ UInt32(bitPattern: Int32(acknowledgmentOffset)),
                flags: flags,
                window: window,
                options: options,
                payload: payload
            )
        } catch {
            return
        }
        self.server.handleSegment(packet, now: self.now)
        self.drain()
    }

    mutating func advance(by duration: Duration) {
        self.now += duration
        self.server.handleTimeout(now: self.now)
        if let deadline = self.server.pollTimeout()?.deadline {
            check(self.now < deadline, "a deadline is still due after handleTimeout")
        }
        self.drain()
    }

    mutating func answer(length: Int, abort: Bool) {
        guard !self.queries.isEmpty else {
            return
        }
        let query = self.queries.removeFirst()
        if abort {
            self.server.abort(query.connection, reason: .malformedQuery, now: self.now)
        } else {
            var answer = ByteBuffer()
            answer.writeRepeatingByte(0xA5, count: length)
            self.server.sendAnswer(answer, on: query.connection, now: self.now)
        }
        self.drain()
    }

    mutating func drain() {
        while let query = self.server.pollQuery() {
            check(query.message.readableBytes <= DNSTCPServerConstants.maximumQueryLength, "an oversized query")
            self.queries.append(query)
        }
        while let segment = self.server.pollSegment() {
            check(segment.length <= IPPacketConstants.maximumPacketLength, "a segment beyond the TUN MTU")
            guard let tcp = segment.tcp else {
                fatalError("the server wrote a packet that is not TCP")
            }
            check(segment.source == sentinelV4 || segment.source == sentinelV6, "a segment not from a sentinel")
            check(tcp.sourcePort == 53 || tcp.sourcePort == 54, "a segment from another port")
            let remote = IPSocketAddress(segment.destination, port: tcp.destinationPort)
            var entry = self.expected[remote] ?? (0, 0)
            if tcp.flags.contains(.ack) {
                entry.acknowledgment = tcp.acknowledgmentNumber
            }
            let flags = tcp.flags
            let end =
                tcp.sequenceNumber &+ UInt32(segment.payload.readableBytes)
                &+ (flags.contains(.syn) ? 1 : 0) &+ (flags.contains(.fin) ? 1 : 0)
            if !flags.contains(.rst), Int32(bitPattern: end &- entry.sent) > 0 || self.expected[remote] == nil {
                entry.sent = end
            }
            self.expected[remote] = entry
        }
    }

    func checkInvariants() {
        let connections = self.server.connectionCount
        check(connections <= DNSTCPServerConstants.maximumConnections, "\(connections) connections")
        let perConnection =
            DNSTCPServerConstants.receiveBufferCapacity + DNSTCPServerConstants.sendBufferCapacity
        check(self.server.bufferedBytes <= connections * perConnection, "\(self.server.bufferedBytes) bytes buffered")
        // Queries read and not answered: at most the pipeline of every connection the harness has seen (closed ones
        // leave their queries behind, which the server then counts as answers for closed connections).
        check(
            self.queries.count <= DNSTCPServerConstants.maximumOutstandingQueries * max(1, self.expected.count),
            "\(self.queries.count) queries waiting"
        )
    }
}
