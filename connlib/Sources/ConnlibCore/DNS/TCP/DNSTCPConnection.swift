import DequeModule
import FirezoneTime
import IPPacket
import NIOCore

/// One TCP connection of ``DNSTCPServer``: RFC 9293's server side reduced to what DNS over TCP (RFC 7766) needs.
/// It accepts data in order only, cuts it into queries, sends the answers segmented to the peer's MSS within its
/// window, retransmits go-back-N on a doubling timeout, and closes after the peer's FIN once every answer went out.
struct DNSTCPConnection {
    enum State {
        /// SYN-ACK sent, waiting for the ACK of it.
        case synReceived
        /// Open; the peer may have sent its FIN (CLOSE-WAIT) and we ours (FIN-WAIT, LAST-ACK), see the flags.
        case established
        /// Both FINs sent and acknowledged after we sent ours first: a retransmitted FIN is acknowledged again.
        case timeWait(until: Instant)
    }

    /// What a segment or a timeout asks of the server beyond the segments already queued.
    enum Outcome {
        case keep
        /// The connection is over and leaves the table; any reset was already queued.
        case remove
    }

    let id: DNSTCPConnectionID
    var state: State = .synReceived

    // RFC 9293 §3.3.1's send sequence variables. `sendBuffer` holds the data from `sendUnacknowledged` on.
    let initialSendSequence: UInt32
    var sendUnacknowledged: UInt32
    var sendNext: UInt32
    /// The highest sequence number sent, so that an acknowledgment of data sent before a go-back-N retransmission
    /// is accepted.
    var sendMaximum: UInt32
    var sendWindow: Int = 0
    let sendMSS: Int
    var sendBuffer = ByteBuffer()
    /// Our FIN goes after the buffered data.
    var finQueued = false
    /// The sequence number of our FIN once sent.
    var finSequence: UInt32?
    /// We sent our FIN before the peer's arrived: the close ends in TIME-WAIT.
    var closedFirst = false

    // Receive side.
    var receiveNext: UInt32
    var framer = DNSTCPFramer()
    var peerFinReceived = false
    var outstandingQueries = 0

    // Timers.
    var retransmissionDeadline: Instant?
    var retransmissionTimeout = DNSTCPServerConstants.initialRetransmissionTimeout
    var retransmissions = 0
    var lastActivity: Instant
    /// Reset by us: the server removes the connection.
    var aborted = false

    init(id: DNSTCPConnectionID, initialSendSequence: UInt32, peerSequence: UInt32, sendMSS: Int, now: Instant) {
        self.id = id
        self.initialSendSequence = initialSendSequence
        self.sendUnacknowledged = initialSendSequence
        self.sendNext = initialSendSequence &+ 1
        self.sendMaximum = self.sendNext
        self.receiveNext = peerSequence &+ 1
        self.sendMSS = sendMSS
        self.lastActivity = now
        self.retransmissionDeadline = now + self.retransmissionTimeout
    }

    /// Bytes this connection holds: received and not yet queries, answers not yet acknowledged.
    var bufferedBytes: Int {
        self.framer.bufferedBytes + self.sendBuffer.readableBytes
    }

    var receiveWindow: Int {
        max(0, DNSTCPServerConstants.receiveBufferCapacity - self.framer.bufferedBytes)
    }

    var isTimeWait: Bool {
        if case .timeWait = self.state {
            return true
        }
        return false
    }

    /// Whether the connection has no query in flight and nothing to send: the idle close may be graceful.
    var isQuiet: Bool {
        self.outstandingQueries == 0 && self.sendBuffer.readableBytes == 0 && !self.finQueued
    }

    var ourFinAcknowledged: Bool {
        guard let fin = self.finSequence else {
            return false
        }
        return self.sendUnacknowledged == fin &+ 1
    }

    var deadline: Instant? {
        switch self.state {
        case .timeWait(let until):
            until
        case .synReceived, .established:
            // While something is unacknowledged the retransmission budget bounds the wait; idleness counts
            // only when nothing is in flight.
            self.retransmissionDeadline ?? self.lastActivity + DNSTCPServerConstants.idleTimeout
        }
    }

    // MARK: Input

    /// RFC 9293 §3.10.7.4, SEGMENT ARRIVES in a synchronized state, for the subset this server needs.
    mutating func handle(
        _ tcp: TCPHeader,
        payload: ByteBuffer,
        output: inout DNSTCPOutput,
        now: Instant
    ) -> Outcome {
        let flags = tcp.flags
        let sequence = tcp.sequenceNumber
        if flags.contains(.rst) {
            // RFC 5961 §3.2: a reset is honoured only at exactly the next expected sequence number; in the window
            // it earns a challenge ACK, elsewhere nothing.
            if sequence == self.receiveNext {
                return .remove
            }
            let offset = sequence.sequenceDistance(from: self.receiveNext)
            if offset > 0 && offset < max(1, self.receiveWindow) {
                self.sendAcknowledgment(output: &output)
            }
            return .keep
        }
        if flags.contains(.syn) {
            if case .synReceived = self.state, sequence &+ 1 == self.receiveNext {
                // The peer did not get our SYN-ACK.
                self.sendSynAcknowledgment(output: &output)
            } else {
                // RFC 5961 §4.2: a SYN on a synchronized connection gets a challenge ACK.
                self.sendAcknowledgment(output: &output)
            }
            return .keep
        }
        // RFC 9293 §3.10.7.4: "if the ACK bit is off, drop the segment and return".
        guard flags.contains(.ack) else {
            return .keep
        }
        if case .synReceived = self.state {
            guard tcp.acknowledgmentNumber == self.initialSendSequence &+ 1 else {
                // "If the segment acknowledgment is not acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST>."
                output.stats.count(.unacceptableAcknowledgment)
                output.reset(self.id, sequence: tcp.acknowledgmentNumber)
                return .keep
            }
            self.state = .established
            self.sendUnacknowledged = tcp.acknowledgmentNumber
            self.sendWindow = Int(tcp.window)
            self.retransmissionDeadline = nil
            self.retransmissions = 0
            self.retransmissionTimeout = DNSTCPServerConstants.initialRetransmissionTimeout
        } else if case .removeNow = self.processAcknowledgment(tcp, output: &output, now: now) {
            return .remove
        }
        if payload.readableBytes > 0 || flags.contains(.fin) {
            if case .remove = self.receive(
                sequence: sequence,
                payload: payload,
                fin: flags.contains(.fin),
                output: &output,
                now: now
            ) {
                return .remove
            }
        }
        self.extractQueries(output: &output)
        if case .remove = self.closeIfDone(output: &output, now: now) {
            return .remove
        }
        self.transmit(output: &output, now: now)
        return .keep
    }

    private enum AcknowledgmentOutcome {
        case proceed
        case removeNow
    }

    private mutating func processAcknowledgment(
        _ tcp: TCPHeader,
        output: inout DNSTCPOutput,
        now: Instant
    ) -> AcknowledgmentOutcome {
        let acknowledgment = tcp.acknowledgmentNumber
        if acknowledgment.isSequenceAfter(self.sendMaximum) {
            // "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK, drop the segment."
            output.stats.count(.unacceptableAcknowledgment)
            self.sendAcknowledgment(output: &output)
            return .proceed
        }
        guard !self.sendUnacknowledged.isSequenceAfter(acknowledgment) else {
            // An old acknowledgment: its window may be stale, so it changes nothing.
            return .proceed
        }
        let acknowledged = acknowledgment.sequenceDistance(from: self.sendUnacknowledged)
        self.sendWindow = Int(tcp.window)
        guard acknowledged > 0 else {
            return .proceed
        }
        let dataAcknowledged = min(acknowledged, self.sendBuffer.readableBytes)
        self.sendBuffer.moveReaderIndex(forwardBy: dataAcknowledged)
        if self.sendBuffer.readableBytes == 0 {
            self.sendBuffer.clear()
        } else if self.sendBuffer.readerIndex > DNSTCPServerConstants.sendBufferCapacity {
            self.sendBuffer.discardReadBytes()
        }
        self.sendUnacknowledged = acknowledgment
        if self.sendNext.sequenceDistance(from: acknowledgment) < 0 {
            self.sendNext = acknowledgment
        }
        self.lastActivity = now
        self.retransmissions = 0
        self.retransmissionTimeout = DNSTCPServerConstants.initialRetransmissionTimeout
        self.retransmissionDeadline =
            self.sendUnacknowledged == self.sendMaximum ? nil : now + self.retransmissionTimeout
        if self.ourFinAcknowledged && self.peerFinReceived {
            return self.finishClose(output: &output, now: now)
        }
        return .proceed
    }

    /// Both FINs are acknowledged: LAST-ACK ends here, a close we started waits in TIME-WAIT.
    private mutating func finishClose(output: inout DNSTCPOutput, now: Instant) -> AcknowledgmentOutcome {
        guard self.closedFirst else {
            return .removeNow
        }
        self.state = .timeWait(until: now + DNSTCPServerConstants.timeWaitDuration)
        self.retransmissionDeadline = nil
        return .proceed
    }

    private mutating func receive(
        sequence: UInt32,
        payload: ByteBuffer,
        fin: Bool,
        output: inout DNSTCPOutput,
        now: Instant
    ) -> Outcome {
        // How much of this segment came before: the peer retransmitted what we acknowledged already.
        let alreadyReceived = self.receiveNext.sequenceDistance(from: sequence)
        let length = payload.readableBytes
        if alreadyReceived < 0 {
            // Out of order: no reassembly queue, so the segment is dropped and our ACK tells the peer what to
            // resend (RFC 9293 §3.10.7.4 allows keeping or discarding segments beyond RCV.NXT).
            output.stats.count(.outOfOrder)
            self.sendAcknowledgment(output: &output)
            return .keep
        }
        if alreadyReceived > length || (alreadyReceived == length && (!fin || self.peerFinReceived)) {
            // A duplicate, or a retransmitted FIN: acknowledged again.
            self.sendAcknowledgment(output: &output)
            return .keep
        }
        let fresh = length - alreadyReceived
        let accepted = min(fresh, self.receiveWindow)
        if accepted > 0, case .established = self.state, !self.peerFinReceived {
            self.framer.append(payload.getSlice(at: payload.readerIndex + alreadyReceived, length: accepted)!)
            self.receiveNext = self.receiveNext &+ UInt32(accepted)
            self.lastActivity = now
        }
        if accepted < fresh {
            output.stats.count(.beyondWindow)
        } else if fin, !self.peerFinReceived {
            self.receiveNext = self.receiveNext &+ 1
            self.peerFinReceived = true
            self.lastActivity = now
            if self.ourFinAcknowledged {
                // FIN-WAIT-2 → TIME-WAIT.
                self.state = .timeWait(until: now + DNSTCPServerConstants.timeWaitDuration)
                self.retransmissionDeadline = nil
            }
        }
        self.sendAcknowledgment(output: &output)
        return .keep
    }

    /// Cuts whole queries out of the received bytes while the pipeline has room (RFC 7766 §6.2.1.1); a stream
    /// that cannot be DNS resets the connection.
    mutating func extractQueries(output: inout DNSTCPOutput) {
        guard case .established = self.state, !self.peerFinReceived || self.framer.bufferedBytes > 0 else {
            return
        }
        while self.outstandingQueries < DNSTCPServerConstants.maximumOutstandingQueries {
            if let length = self.framer.nextMessageLength, length > DNSTCPServerConstants.maximumQueryLength {
                self.abort(reason: .oversizedQuery, output: &output)
                return
            }
            let message: ByteBuffer?
            do {
                message = try self.framer.nextMessage()
            } catch {
                self.abort(reason: .malformedQuery, output: &output)
                return
            }
            guard let message else {
                return
            }
            self.outstandingQueries += 1
            output.queries.append(DNSTCPQuery(connection: self.id, message: message))
            output.stats.queriesReceived += 1
        }
    }

    /// After the peer's FIN and the last answer, our FIN (RFC 7766 §6.2.3: the server closes once it answered).
    mutating func closeIfDone(output: inout DNSTCPOutput, now: Instant) -> Outcome {
        if self.aborted {
            return .remove
        }
        if self.peerFinReceived, self.outstandingQueries == 0, !self.finQueued, case .established = self.state {
            self.finQueued = true
        }
        return .keep
    }

    // MARK: Output

    /// Appends an answer to the stream, framed with its length.
    mutating func queueAnswer(_ message: ByteBuffer, output: inout DNSTCPOutput, now: Instant) -> Outcome {
        guard self.outstandingQueries > 0 else {
            // A second answer to a query (a duplicated datagram from the tunnel, say): the application asked once.
            output.stats.count(.unexpectedAnswer)
            return .keep
        }
        self.outstandingQueries -= 1
        guard let length = UInt16(exactly: message.readableBytes),
            self.sendBuffer.readableBytes + DNSConstants.tcpLengthPrefixLength + message.readableBytes
                <= DNSTCPServerConstants.sendBufferCapacity, !self.finQueued
        else {
            self.abort(reason: .sendBufferFull, output: &output)
            return .remove
        }
        self.sendBuffer.writeInteger(length)
        self.sendBuffer.writeImmutableBuffer(message)
        self.lastActivity = now
        output.stats.answersSent += 1
        self.extractQueries(output: &output)
        if case .remove = self.closeIfDone(output: &output, now: now) {
            return .remove
        }
        self.transmit(output: &output, now: now)
        return .keep
    }

    /// Sends what the peer's window allows: data segments of at most the MSS, then our FIN.
    mutating func transmit(output: inout DNSTCPOutput, now: Instant) {
        guard case .established = self.state else {
            return
        }
        while true {
            let sent = self.sendNext.sequenceDistance(from: self.sendUnacknowledged)
            let unsent = self.sendBuffer.readableBytes - sent
            if unsent > 0 {
                let windowLeft = self.sendWindow - sent
                guard windowLeft > 0 else {
                    if sent == 0, self.retransmissionDeadline == nil {
                        // A zero window: the timer sends a probe (RFC 9293 §3.8.6.1).
                        self.retransmissionDeadline = now + self.retransmissionTimeout
                    }
                    return
                }
                self.sendData(from: sent, length: min(unsent, self.sendMSS, windowLeft), output: &output, now: now)
            } else if self.finQueued, unsent == 0, self.finSequence == nil || self.finSequence == self.sendNext {
                self.finSequence = self.sendNext
                output.segment(
                    self.id,
                    sequence: self.sendNext,
                    acknowledgment: self.receiveNext,
                    flags: [.fin, .ack],
                    window: self.receiveWindow
                )
                self.advanceSendNext(by: 1, now: now)
                return
            } else {
                return
            }
        }
    }

    private mutating func sendData(from offset: Int, length: Int, output: inout DNSTCPOutput, now: Instant) {
        let payload = self.sendBuffer.getSlice(at: self.sendBuffer.readerIndex + offset, length: length)!
        output.segment(
            self.id,
            sequence: self.sendNext,
            acknowledgment: self.receiveNext,
            flags: [.ack, .psh],
            window: self.receiveWindow,
            payload: payload
        )
        self.advanceSendNext(by: length, now: now)
    }

    private mutating func advanceSendNext(by count: Int, now: Instant) {
        self.sendNext = self.sendNext &+ UInt32(count)
        if self.sendNext.isSequenceAfter(self.sendMaximum) {
            self.sendMaximum = self.sendNext
        }
        if self.retransmissionDeadline == nil {
            self.retransmissionDeadline = now + self.retransmissionTimeout
        }
    }

    func sendAcknowledgment(output: inout DNSTCPOutput) {
        output.segment(
            self.id,
            sequence: self.sendNext,
            acknowledgment: self.receiveNext,
            flags: .ack,
            window: self.receiveWindow
        )
    }

    func sendSynAcknowledgment(output: inout DNSTCPOutput) {
        output.segment(
            self.id,
            sequence: self.initialSendSequence,
            acknowledgment: self.receiveNext,
            flags: [.syn, .ack],
            window: self.receiveWindow,
            announceMSS: true
        )
    }

    /// RFC 9293 §3.10.4, ABORT: <SEQ=SND.NXT><CTL=RST>, counted.
    mutating func abort(reason: DNSTCPDropReason, output: inout DNSTCPOutput) {
        output.stats.count(reason)
        output.reset(self.id, sequence: self.sendNext)
        self.aborted = true
    }

    // MARK: Timers

    mutating func handleTimeout(output: inout DNSTCPOutput, now: Instant) -> Outcome {
        if case .timeWait(let until) = self.state {
            return now < until ? .keep : .remove
        }
        if let deadline = self.retransmissionDeadline, deadline <= now {
            if case .remove = self.retransmit(output: &output, now: now) {
                return .remove
            }
        }
        if self.retransmissionDeadline == nil, now >= self.lastActivity + DNSTCPServerConstants.idleTimeout {
            guard case .established = self.state, self.isQuiet, !self.peerFinReceived else {
                // Idle in the middle of a handshake, a query or a close: nothing good is coming.
                self.abort(reason: .idle, output: &output)
                return .remove
            }
            // A graceful close; the peer's FIN or the next idle period ends it.
            self.finQueued = true
            self.closedFirst = true
            self.lastActivity = now
            self.transmit(output: &output, now: now)
        }
        return .keep
    }

    /// RFC 6298 §5.4–5.6: resend from the oldest unacknowledged byte and double the timeout.
    private mutating func retransmit(output: inout DNSTCPOutput, now: Instant) -> Outcome {
        self.retransmissions += 1
        guard self.retransmissions <= DNSTCPServerConstants.maximumRetransmissions else {
            self.abort(reason: .retransmissionsExhausted, output: &output)
            return .remove
        }
        output.stats.retransmissions += 1
        self.retransmissionTimeout = min(
            self.retransmissionTimeout * 2,
            DNSTCPServerConstants.maximumRetransmissionTimeout
        )
        self.retransmissionDeadline = now + self.retransmissionTimeout
        switch self.state {
        case .synReceived:
            self.sendSynAcknowledgment(output: &output)
        case .established:
            self.sendNext = self.sendUnacknowledged
            let unsent = self.sendBuffer.readableBytes
            if unsent > 0, self.sendWindow == 0 {
                // A window probe: one byte the peer may take once its window opens.
                self.sendData(from: 0, length: 1, output: &output, now: now)
            } else {
                self.transmit(output: &output, now: now)
            }
        case .timeWait:
            break
        }
        return .keep
    }
}
