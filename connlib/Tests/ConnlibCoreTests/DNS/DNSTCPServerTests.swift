import ConnlibCore
import FirezoneTime
import IPPacket
import NIOCore
import Testing

/// The DNS stub's TCP responder, driven by a test client over in-memory segments.
@Suite struct DNSTCPServerTests {
    static let sentinelV4 = IPSocketAddress(.v4(IPv4Address(100, 100, 111, 1)), port: 53)
    static let sentinelV6 = IPSocketAddress(.v6(IPv6Address("fd00:2021:1111:8000:100:100:111:1")!), port: 53)
    static let appV4 = IPSocketAddress(.v4(IPv4Address(100, 64, 0, 9)), port: 41000)
    static let appV6 = IPSocketAddress(.v6(IPv6Address("fd00:2021:1111::9")!), port: 41000)
    static let start = Instant(nanoseconds: 1_000_000_000)

    /// A server and a client with a pump between them.
    struct Pair {
        var server = DNSTCPServer(seed: 7)
        var client: DNSTCPTestClient
        var now = DNSTCPServerTests.start
        /// Server segments the test chose not to deliver.
        var lost: [IPPacket] = []

        init(client: DNSTCPTestClient) {
            self.client = client
        }

        init(v6: Bool = false, mss: UInt16? = nil) {
            self.client = DNSTCPTestClient(
                local: v6 ? DNSTCPServerTests.appV6 : DNSTCPServerTests.appV4,
                remote: v6 ? DNSTCPServerTests.sentinelV6 : DNSTCPServerTests.sentinelV4,
                announcedMSS: mss
            )
        }

        /// Client → server, then every server segment to the client and its acknowledgments back, until quiet.
        /// `drop` decides which server segments are lost.
        mutating func deliver(_ packet: IPPacket, drop: (IPPacket) -> Bool = { _ in false }) throws {
            self.server.handleSegment(packet, now: self.now)
            try self.pump(drop: drop)
        }

        mutating func pump(drop: (IPPacket) -> Bool = { _ in false }) throws {
            while let segment = self.server.pollSegment() {
                if drop(segment) {
                    self.lost.append(segment)
                    continue
                }
                if let reply = try self.client.handle(segment) {
                    self.server.handleSegment(reply, now: self.now)
                }
            }
        }

        mutating func connect() throws {
            try self.deliver(try self.client.syn())
        }

        /// Every query the server read so far.
        mutating func queries() -> [DNSTCPQuery] {
            var queries: [DNSTCPQuery] = []
            while let query = self.server.pollQuery() {
                queries.append(query)
            }
            return queries
        }

        mutating func advance(by duration: Duration, drop: (IPPacket) -> Bool = { _ in false }) throws {
            self.now += duration
            self.server.handleTimeout(now: self.now)
            try self.pump(drop: drop)
        }
    }

    static func query(_ id: UInt16, length: Int = 29) -> ByteBuffer {
        var query = ByteBuffer()
        query.writeInteger(id)
        query.writeRepeatingByte(UInt8(truncatingIfNeeded: id), count: length - 2)
        return query
    }

    /// An answer of `length` bytes whose content tells its position, so reassembly errors show.
    static func answer(_ id: UInt16, length: Int) -> ByteBuffer {
        var answer = ByteBuffer()
        answer.writeInteger(id)
        for index in 2..<length {
            answer.writeInteger(UInt8(truncatingIfNeeded: index &* 7 &+ Int(id)))
        }
        return answer
    }

    static func mssOption(of packet: IPPacket) -> UInt16? {
        guard let options = packet.tcp?.options, options.readableBytes >= 4,
            options.getInteger(at: options.readerIndex, as: UInt8.self) == 2
        else {
            return nil
        }
        return options.getInteger(at: options.readerIndex + 2, as: UInt16.self)
    }

    // MARK: Handshake

    @Test(arguments: [false, true])
    func aSYNIsAnsweredWithASYNACKAnnouncingTheMSSOfTheTunMTU(v6: Bool) throws {
        var pair = Pair(v6: v6)
        try pair.connect()
        let synAck = try #require(pair.client.synAcknowledgment)
        let tcp = try #require(synAck.tcp)
        #expect(tcp.flags == [.syn, .ack])
        #expect(tcp.acknowledgmentNumber == pair.client.initialSequence &+ 1)
        #expect(synAck.source == pair.client.remote.address)
        #expect(tcp.sourcePort == 53)
        #expect(Self.mssOption(of: synAck) == (v6 ? 1220 : 1240))
        #expect(pair.server.connectionCount == 1)
        #expect(pair.server.stats.connectionsAccepted == 1)
    }

    @Test func aRetransmittedSYNGetsTheSameSYNACK() throws {
        var pair = Pair()
        let syn = try pair.client.syn()
        pair.server.handleSegment(syn, now: pair.now)
        let first = pair.server.pollSegment()
        pair.server.handleSegment(syn, now: pair.now)
        let second = pair.server.pollSegment()
        #expect(first != nil)
        #expect(first?.buffer == second?.buffer)
        #expect(pair.server.connectionCount == 1)
    }

    @Test func initialSequenceNumbersComeFromTheSeed() throws {
        func isn(seed: UInt64) throws -> UInt32? {
            var server = DNSTCPServer(seed: seed)
            var client = DNSTCPTestClient(local: Self.appV4, remote: Self.sentinelV4)
            server.handleSegment(try client.syn(), now: Self.start)
            return server.pollSegment()?.tcp?.sequenceNumber
        }
        #expect(try isn(seed: 1) == isn(seed: 1))
        #expect(try isn(seed: 1) != isn(seed: 2))
    }

    // MARK: MSS and segmentation

    @Test(arguments: [
        (UInt16?.none, false, 536), (UInt16?.none, true, 1220), (UInt16(600), false, 600),
        (UInt16(9000), false, 1240), (UInt16(1), true, 88),
    ])
    func answersAreSegmentedToThePeersMSS(announced: UInt16?, v6: Bool, expected: Int) throws {
        var pair = Pair(v6: v6, mss: announced)
        try pair.connect()
        try pair.deliver(try pair.client.send(DNSTCPTestClient.framed(Self.query(1))))
        let query = try #require(pair.queries().first)
        let answer = Self.answer(1, length: 3000)
        let accepted = pair.server.sendAnswer(answer, on: query.connection, now: pair.now)
        #expect(accepted)
        try pair.pump()
        let sizes = pair.client.dataSegments.map(\.payload.readableBytes)
        #expect(sizes.max() == expected)
        #expect(pair.client.answers == [answer])
    }

    @Test func aTwoKilobyteAnswerArrivesByteExactInSeveralSegments() throws {
        var pair = Pair()
        try pair.connect()
        try pair.deliver(try pair.client.send(DNSTCPTestClient.framed(Self.query(9))))
        let query = try #require(pair.queries().first)
        #expect(query.message == Self.query(9))
        let answer = Self.answer(9, length: 2048)
        pair.server.sendAnswer(answer, on: query.connection, now: pair.now)
        try pair.pump()
        #expect(pair.client.dataSegments.count == 4)
        #expect(pair.client.answers == [answer])
        #expect(pair.server.bufferedBytes == 0)
    }

    @Test func sendingStopsAtThePeersWindowAndResumesWhenItOpens() throws {
        var pair = Pair(mss: 1000)
        pair.client.window = 1500
        try pair.connect()
        // The client holds its acknowledgments: only a window's worth may be in flight.
        pair.server.handleSegment(try pair.client.send(DNSTCPTestClient.framed(Self.query(3))), now: pair.now)
        let query = try #require(pair.queries().first)
        pair.server.sendAnswer(Self.answer(3, length: 4000), on: query.connection, now: pair.now)
        var inFlight = 0
        var held: [IPPacket] = []
        while let segment = pair.server.pollSegment() {
            inFlight += segment.payload.readableBytes
            held.append(segment)
        }
        #expect(inFlight == 1500)
        for segment in held {
            if let reply = try pair.client.handle(segment) {
                pair.server.handleSegment(reply, now: pair.now)
            }
        }
        try pair.pump()
        #expect(pair.client.answers == [Self.answer(3, length: 4000)])
    }

    // MARK: Pipelining

    @Test func pipelinedQueriesAreEachAnsweredInAnyOrder() throws {
        var pair = Pair()
        try pair.connect()
        var both = DNSTCPTestClient.framed(Self.query(1))
        both.writeImmutableBuffer(DNSTCPTestClient.framed(Self.query(2)))
        // The second query straddles two segments.
        var third = DNSTCPTestClient.framed(Self.query(3))
        both.writeImmutableBuffer(third.readSlice(length: 5)!)
        try pair.deliver(try pair.client.send(both))
        try pair.deliver(try pair.client.send(third))
        let queries = pair.queries()
        #expect(queries.map(\.message) == [Self.query(1), Self.query(2), Self.query(3)])
        for query in queries.reversed() {
            pair.server.sendAnswer(
                Self.answer(query.message.getInteger(at: 0)!, length: 100),
                on: query.connection,
                now: pair.now
            )
        }
        try pair.pump()
        #expect(
            pair.client.answers == [
                Self.answer(3, length: 100), Self.answer(2, length: 100), Self.answer(1, length: 100),
            ]
        )
    }

    @Test func aSecondAnswerToOneQueryIsDroppedAndCounted() throws {
        var pair = Pair()
        try pair.connect()
        try pair.deliver(try pair.client.send(DNSTCPTestClient.framed(Self.query(8))))
        let query = try #require(pair.queries().first)
        pair.server.sendAnswer(Self.answer(8, length: 60), on: query.connection, now: pair.now)
        pair.server.sendAnswer(Self.answer(8, length: 70), on: query.connection, now: pair.now)
        try pair.pump()
        #expect(pair.client.answers == [Self.answer(8, length: 60)])
        #expect(pair.server.stats[.unexpectedAnswer] == 1)
        #expect(pair.server.connectionCount == 1)
    }

    // MARK: Loss

    @Test func aLostSegmentIsRetransmittedAfterTheTimeout() throws {
        var pair = Pair()
        try pair.connect()
        try pair.deliver(try pair.client.send(DNSTCPTestClient.framed(Self.query(5))))
        let query = try #require(pair.queries().first)
        pair.server.sendAnswer(Self.answer(5, length: 2048), on: query.connection, now: pair.now)
        var dropped = false
        try pair.pump { segment in
            // The first data segment is lost; the rest arrive out of order and are ignored by the client.
            guard !dropped, segment.payload.readableBytes > 0 else {
                return false
            }
            dropped = true
            return true
        }
        #expect(pair.client.answers.isEmpty)
        let deadline = try #require(pair.server.pollTimeout()?.deadline)
        #expect(deadline == pair.now + .seconds(1))
        try pair.advance(by: .seconds(1))
        #expect(pair.client.answers == [Self.answer(5, length: 2048)])
        #expect(pair.server.stats.retransmissions == 1)
    }

    @Test func aPeerThatNeverAcknowledgesIsResetAfterTheLastRetransmission() throws {
        var pair = Pair()
        try pair.connect()
        try pair.deliver(try pair.client.send(DNSTCPTestClient.framed(Self.query(5))))
        let query = try #require(pair.queries().first)
        pair.server.sendAnswer(Self.answer(5, length: 100), on: query.connection, now: pair.now)
        try pair.pump { _ in true }
        var waited: Duration = .zero
        for timeout in [1, 2, 4, 8, 8, 8] {
            try pair.advance(by: .seconds(timeout), drop: { $0.tcp?.flags.contains(.rst) != true })
            waited += .seconds(timeout)
        }
        #expect(pair.client.reset)
        #expect(pair.server.connectionCount == 0)
        #expect(pair.server.stats[.retransmissionsExhausted] == 1)
        #expect(pair.server.stats.retransmissions == 5)
    }

    @Test func anOutOfOrderSegmentIsDroppedAndAcknowledgedWithWhatArrived() throws {
        var pair = Pair()
        try pair.connect()
        let framed = DNSTCPTestClient.framed(Self.query(4))
        let expected = pair.client.sendNext
        // The second half arrives first.
        pair.client.sendNext &+= 10
        let later = try pair.client.send(framed.getSlice(at: 10, length: framed.readableBytes - 10)!)
        try pair.deliver(later)
        #expect(pair.queries().isEmpty)
        #expect(pair.server.stats[.outOfOrder] == 1)
        let ack = try #require(pair.client.acknowledgments.last?.tcp)
        #expect(ack.acknowledgmentNumber == expected)
        // The whole query sent again is read once.
        pair.client.sendNext = expected
        try pair.deliver(try pair.client.send(framed))
        #expect(pair.queries().map(\.message) == [Self.query(4)])
    }

    // MARK: Resets

    @Test func aSYNToAClosedPortIsRefusedWithAReset() throws {
        var server = DNSTCPServer(seed: 1)
        var client = DNSTCPTestClient(local: Self.appV4, remote: IPSocketAddress(Self.sentinelV4.address, port: 54))
        server.handleSegment(try client.syn(), now: Self.start)
        let reset = try #require(server.pollSegment()?.tcp)
        #expect(reset.flags == [.rst, .ack])
        #expect(reset.sequenceNumber == 0)
        #expect(reset.acknowledgmentNumber == client.initialSequence &+ 1)
        #expect(server.connectionCount == 0)
        #expect(server.stats[.noConnection] == 1)
    }

    @Test func aSegmentForNoConnectionIsResetAtItsAcknowledgmentButAResetIsNeverAnswered() throws {
        var server = DNSTCPServer(seed: 1)
        var client = DNSTCPTestClient(local: Self.appV4, remote: Self.sentinelV4)
        client.receiveNext = 777
        server.handleSegment(try client.send(DNSTCPTestClient.framed(Self.query(1))), now: Self.start)
        let reset = try #require(server.pollSegment()?.tcp)
        #expect(reset.flags == .rst)
        #expect(reset.sequenceNumber == 777)
        server.handleSegment(try client.segment(sequence: client.sendNext, flags: .rst), now: Self.start)
        #expect(server.pollSegment() == nil)
    }

    @Test func aZeroLengthFrameResetsTheConnectionAndIsCounted() throws {
        var pair = Pair()
        try pair.connect()
        var garbage = ByteBuffer()
        garbage.writeInteger(UInt16(0))
        try pair.deliver(try pair.client.send(garbage))
        #expect(pair.client.reset)
        #expect(pair.server.connectionCount == 0)
        #expect(pair.server.stats[.malformedQuery] == 1)
    }

    @Test func aFrameLongerThanAllowedResetsTheConnectionAndIsCounted() throws {
        var pair = Pair()
        try pair.connect()
        var prefix = ByteBuffer()
        prefix.writeInteger(UInt16(DNSTCPServerConstants.maximumQueryLength + 1))
        try pair.deliver(try pair.client.send(prefix))
        #expect(pair.client.reset)
        #expect(pair.server.connectionCount == 0)
        #expect(pair.server.stats[.oversizedQuery] == 1)
    }

    @Test func aMalformedQueryAbortsTheConnection() throws {
        var pair = Pair()
        try pair.connect()
        try pair.deliver(try pair.client.send(DNSTCPTestClient.framed(Self.query(1))))
        let query = try #require(pair.queries().first)
        pair.server.abort(query.connection, reason: .malformedQuery, now: pair.now)
        try pair.pump()
        #expect(pair.client.reset)
        #expect(pair.server.stats[.malformedQuery] == 1)
        let accepted = pair.server.sendAnswer(Self.answer(1, length: 50), on: query.connection, now: pair.now)
        #expect(!accepted)
        #expect(pair.server.stats[.answerForClosedConnection] == 1)
    }

    // MARK: Close

    @Test func afterThePeersFINTheAnswerGoesOutThenOurFINAndTheConnectionEnds() throws {
        var pair = Pair()
        try pair.connect()
        try pair.deliver(try pair.client.send(DNSTCPTestClient.framed(Self.query(6))))
        let fin = try pair.client.fin()
        try pair.deliver(fin)
        let finAck = try #require(pair.client.acknowledgments.last?.tcp)
        #expect(finAck.acknowledgmentNumber == pair.client.sendNext)
        #expect(!pair.client.serverFinReceived)
        let query = try #require(pair.queries().first)
        pair.server.sendAnswer(Self.answer(6, length: 300), on: query.connection, now: pair.now)
        // The client's acknowledgments of the answer and of our FIN are lost.
        while let segment = pair.server.pollSegment() {
            _ = try pair.client.handle(segment)
        }
        #expect(pair.client.answers == [Self.answer(6, length: 300)])
        #expect(pair.client.serverFinReceived)
        // LAST-ACK: the client's FIN sent again, without the acknowledgment of ours, is acknowledged again.
        let finalReceiveNext = pair.client.receiveNext
        pair.client.receiveNext = finalReceiveNext &- 1
        pair.client.sendNext &-= 1
        pair.server.handleSegment(try pair.client.fin(), now: pair.now)
        let reacknowledgment = pair.server.pollSegment()?.tcp
        #expect(reacknowledgment?.flags == .ack)
        #expect(reacknowledgment?.acknowledgmentNumber == pair.client.sendNext)
        pair.client.receiveNext = finalReceiveNext
        try pair.deliver(try pair.client.acknowledgment())
        #expect(pair.server.connectionCount == 0)
        #expect(pair.server.pollTimeout() == nil)
    }

    // MARK: Bounds

    @Test func theConnectionIdleTheLongestMakesRoomWhenTheTableIsFull() throws {
        var server = DNSTCPServer(seed: 3)
        var clients: [DNSTCPTestClient] = []
        var now = Self.start
        for index in 0..<DNSTCPServerConstants.maximumConnections {
            var client = DNSTCPTestClient(
                local: IPSocketAddress(Self.appV4.address, port: UInt16(20_000 + index)),
                remote: Self.sentinelV4
            )
            server.handleSegment(try client.syn(), now: now)
            while let segment = server.pollSegment() {
                if let reply = try client.handle(segment) {
                    server.handleSegment(reply, now: now)
                }
            }
            clients.append(client)
            now += .milliseconds(1)
        }
        // The first one is busy again; the second is now the quietest.
        server.handleSegment(try clients[0].send(DNSTCPTestClient.framed(Self.query(1))), now: now)
        while server.pollSegment() != nil {}
        var newcomer = DNSTCPTestClient(
            local: IPSocketAddress(Self.appV4.address, port: 30_000),
            remote: Self.sentinelV4
        )
        server.handleSegment(try newcomer.syn(), now: now)
        var resetPorts: [UInt16] = []
        var synAcks = 0
        while let segment = server.pollSegment() {
            let tcp = try #require(segment.tcp)
            if tcp.flags.contains(.rst) {
                resetPorts.append(tcp.destinationPort)
            } else if tcp.flags.contains(.syn) {
                synAcks += 1
            }
        }
        #expect(resetPorts == [20_001])
        #expect(synAcks == 1)
        #expect(server.connectionCount == DNSTCPServerConstants.maximumConnections)
        #expect(server.stats[.evicted] == 1)
    }

    @Test func anIdleConnectionIsClosedWithAFINThenResetIfThePeerStaysSilent() throws {
        var pair = Pair()
        try pair.connect()
        let deadline = try #require(pair.server.pollTimeout()?.deadline)
        #expect(deadline == Self.start + DNSTCPServerConstants.idleTimeout)
        try pair.advance(by: DNSTCPServerConstants.idleTimeout)
        #expect(pair.client.serverFinReceived)
        #expect(pair.server.connectionCount == 1)
        try pair.advance(by: DNSTCPServerConstants.idleTimeout)
        #expect(pair.server.connectionCount == 0)
        #expect(pair.server.stats[.idle] == 1)
    }

    @Test func anIdleCloseAnsweredByTheClientsFINEndsInTimeWait() throws {
        var pair = Pair()
        try pair.connect()
        try pair.advance(by: DNSTCPServerConstants.idleTimeout)
        #expect(pair.client.serverFinReceived)
        try pair.deliver(try pair.client.fin())
        #expect(pair.server.connectionCount == 1)
        // A retransmitted FIN in TIME-WAIT is acknowledged again.
        let before = pair.client.acknowledgments.count
        pair.client.sendNext &-= 1
        try pair.deliver(try pair.client.fin())
        #expect(pair.client.acknowledgments.count == before + 1)
        try pair.advance(by: DNSTCPServerConstants.timeWaitDuration)
        #expect(pair.server.connectionCount == 0)
        #expect(pair.server.stats[.idle] == 0)
    }
}
