import ConnlibCore
import IPPacket
import NIOCore

/// An application's TCP client for tests: connects to a sentinel's port 53, sends framed queries, reassembles the
/// answer stream byte-exact and closes. It keeps no out-of-order data and never retransmits on its own; tests
/// decide what is lost and what is sent again.
struct DNSTCPTestClient {
    let local: IPSocketAddress
    let remote: IPSocketAddress
    /// The MSS option of our SYN, none when nil.
    var announcedMSS: UInt16?
    var window: UInt16 = 65535

    let initialSequence: UInt32
    var sendNext: UInt32
    /// The next byte of the server's stream we expect: our acknowledgment number.
    var receiveNext: UInt32 = 0
    var connected = false
    var serverFinReceived = false
    var reset = false
    /// The server's SYN-ACK.
    var synAcknowledgment: IPPacket?
    /// The server's stream in order.
    var stream = ByteBuffer()
    /// Every data segment the server sent, in arrival order.
    var dataSegments: [IPPacket] = []
    /// Pure acknowledgments the server sent (no data, no SYN, FIN or RST), in arrival order.
    var acknowledgments: [IPPacket] = []

    init(local: IPSocketAddress, remote: IPSocketAddress, initialSequence: UInt32 = 1000, announcedMSS: UInt16? = nil) {
        self.local = local
        self.remote = remote
        self.initialSequence = initialSequence
        self.sendNext = initialSequence
        self.announcedMSS = announcedMSS
    }

    func segment(
        sequence: UInt32,
        flags: TCPFlags,
        payload: ByteBuffer = ByteBuffer(),
        options: ByteBuffer = ByteBuffer()
    ) throws -> IPPacket {
        try IPPacket.makeTCP(
            source: self.local.address,
            sourcePort: self.local.port,
            destination: self.remote.address,
            destinationPort: self.remote.port,
            sequenceNumber: sequence,
            acknowledgmentNumber: flags.contains(.ack) ? self.receiveNext : 0,
            flags: flags,
            window: self.window,
            options: options,
            payload: payload
        )
    }

    mutating func syn() throws -> IPPacket {
        var options = ByteBuffer()
        if let mss = self.announcedMSS {
            options.writeInteger(UInt8(2))
            options.writeInteger(UInt8(4))
            options.writeInteger(mss)
        }
        self.sendNext = self.initialSequence &+ 1
        return try self.segment(sequence: self.initialSequence, flags: .syn, options: options)
    }

    /// `bytes` as one segment at the next sequence number.
    mutating func send(_ bytes: ByteBuffer) throws -> IPPacket {
        let packet = try self.segment(sequence: self.sendNext, flags: [.ack, .psh], payload: bytes)
        self.sendNext = self.sendNext &+ UInt32(bytes.readableBytes)
        return packet
    }

    /// `query` with its two-byte length prefix.
    static func framed(_ query: ByteBuffer) -> ByteBuffer {
        var framed = ByteBuffer()
        framed.writeInteger(UInt16(query.readableBytes))
        framed.writeImmutableBuffer(query)
        return framed
    }

    mutating func fin() throws -> IPPacket {
        let packet = try self.segment(sequence: self.sendNext, flags: [.fin, .ack])
        self.sendNext = self.sendNext &+ 1
        return packet
    }

    mutating func acknowledgment() throws -> IPPacket {
        try self.segment(sequence: self.sendNext, flags: .ack)
    }

    /// Takes a segment from the server; returns the acknowledgment to send back, if any.
    mutating func handle(_ packet: IPPacket) throws -> IPPacket? {
        guard let tcp = packet.tcp else {
            return nil
        }
        let flags = tcp.flags
        if flags.contains(.rst) {
            self.reset = true
            return nil
        }
        if flags.contains(.syn) {
            self.synAcknowledgment = packet
            self.receiveNext = tcp.sequenceNumber &+ 1
            self.connected = true
            return try self.acknowledgment()
        }
        let payload = packet.payload
        if payload.readableBytes == 0 && !flags.contains(.fin) {
            self.acknowledgments.append(packet)
            return nil
        }
        if payload.readableBytes > 0 {
            self.dataSegments.append(packet)
        }
        if tcp.sequenceNumber == self.receiveNext {
            self.stream.writeImmutableBuffer(payload)
            self.receiveNext = self.receiveNext &+ UInt32(payload.readableBytes)
            if flags.contains(.fin) {
                self.receiveNext = self.receiveNext &+ 1
                self.serverFinReceived = true
            }
        }
        return try self.acknowledgment()
    }

    /// The answers in the stream so far, without their length prefixes.
    var answers: [ByteBuffer] {
        var framer = DNSTCPFramer()
        framer.append(self.stream)
        var answers: [ByteBuffer] = []
        while let answer = try? framer.nextMessage() {
            answers.append(answer)
        }
        return answers
    }
}
