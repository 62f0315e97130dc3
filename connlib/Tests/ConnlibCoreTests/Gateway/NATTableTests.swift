import ConnlibCore
import FirezoneTime
import IPPacket
import Testing

private typealias P = NATTestPackets

@Suite struct NATTableTests {
    // MARK: Translation

    @Test(arguments: [P.proxyV4, P.proxyV6])
    func outboundGoesToTheRealAddressFromTheClientsOwnPort(proxy: IPAddress) throws {
        var table = NATTable()
        let real = proxy.version == .v4 ? P.realV4 : P.realV6
        for var packet in [try P.udp(to: proxy), try P.tcp(to: proxy)] {
            let source = try packet.sourceProtocol()
            let outside = try table.translateOutbound(&packet, realDestination: real, now: .zero)
            #expect(outside == NATTable.Outside(transport: source, realAddress: real))
            #expect(packet.destination == real)
            #expect(packet.source == P.client(for: proxy))
            #expect(try packet.sourceProtocol() == source)
            P.expectChecksumsAsComputedAfresh(packet)
        }
    }

    @Test(arguments: [P.proxyV4, P.proxyV6])
    func replyComesBackFromTheProxyAddressToTheClientsPort(proxy: IPAddress) throws {
        var table = NATTable()
        let real = proxy.version == .v4 ? P.realV4 : P.realV6
        // A second session from the same port to another proxy of the same real IP gets the next port: the reply
        // to it must come back to the client's port.
        var first = try P.udp(from: 5000, to: proxy)
        _ = try table.translateOutbound(&first, realDestination: real, now: .zero)
        let otherProxy = proxy.version == .v4 ? P.otherProxyV4 : IPAddress("fd00:2021:1111:8000::2")!
        var second = try P.udp(from: 5000, to: otherProxy)
        _ = try table.translateOutbound(&second, realDestination: real, now: .zero)

        var reply = try P.reply(to: second)
        let result = table.translateInbound(&reply, now: P.at(1))

        #expect(result == .translated(NATTable.Inside(transport: .udp(port: 5000), proxyAddress: otherProxy)))
        #expect(reply.source == otherProxy)
        #expect(reply.destination == P.client(for: proxy))
        #expect(try reply.destinationProtocol() == .udp(port: 5000))
        #expect(try reply.sourceProtocol() == .udp(port: 53))
        P.expectChecksumsAsComputedAfresh(reply)
    }

    /// Callers remember that a packet belonged to no session for as long as this count stays: starting over must not
    /// bring it back to a value it had.
    @Test func sessionsOpenedCountsEveryNewSessionAndSurvivesRemoveAll() throws {
        var table = NATTable()
        var first = try P.udp(from: 5000, to: P.proxyV4)
        _ = try table.translateOutbound(&first, realDestination: P.realV4, now: .zero)
        var again = try P.udp(from: 5000, to: P.proxyV4)
        _ = try table.translateOutbound(&again, realDestination: P.realV4, now: .zero)
        #expect(table.sessionsOpened == 1)
        table.removeAll()
        #expect(table.sessionsOpened == 1)
        var afresh = try P.udp(from: 5000, to: P.proxyV4)
        _ = try table.translateOutbound(&afresh, realDestination: P.realV4, now: .zero)
        #expect(table.sessionsOpened == 2)
    }

    @Test func icmpEchoIsKeyedByItsIdentifier() throws {
        var table = NATTable()
        var request = try IPPacket.makeICMPEchoRequest(
            source: P.clientV4,
            destination: P.proxyV4,
            identifier: 77,
            sequenceNumber: 1
        )
        let outside = try table.translateOutbound(&request, realDestination: P.realV4, now: .zero)
        #expect(outside == NATTable.Outside(transport: .icmpEcho(identifier: 77), realAddress: P.realV4))
        P.expectChecksumsAsComputedAfresh(request)

        var reply = try P.reply(to: request)
        #expect(
            table.translateInbound(&reply, now: P.at(1))
                == .translated(
                    NATTable.Inside(transport: .icmpEcho(identifier: 77), proxyAddress: P.proxyV4)
                )
        )
        #expect(reply.source == P.proxyV4)
        P.expectChecksumsAsComputedAfresh(reply)
    }

    @Test func packetWithoutPortOrIdentifierIsRefused() throws {
        var table = NATTable()
        let udp = try P.udp()
        var unreachable = IPPacket.makeICMPDestinationUnreachable(for: udp, reason: .networkUnreachable)
        unreachable.setDestination(P.proxyV4)
        #expect(throws: NATTableError.noPortOrIdentifier(.icmp)) {
            try table.translateOutbound(&unreachable, realDestination: P.realV4, now: .zero)
        }
        #expect(table.count == 0)
    }

    @Test func proxyAndRealAddressOfDifferentFamiliesAreRefused() throws {
        var table = NATTable()
        var packet = try P.udp(to: P.proxyV4)
        #expect(throws: NATTableError.familyMismatch(proxy: P.proxyV4, real: P.realV6)) {
            try table.translateOutbound(&packet, realDestination: P.realV6, now: .zero)
        }
    }

    @Test func packetOfNoSessionIsLeftUntouched() throws {
        var table = NATTable()
        var stray = try P.reply(to: try P.udp(to: P.realV4))
        let before = P.bytes(stray)
        #expect(table.translateInbound(&stray, now: .zero) == .noSession)
        #expect(P.bytes(stray) == before)
    }

    // MARK: Outside ports

    @Test func portTakenTowardsTheSameRealAddressMovesToTheNextFreePort() throws {
        var table = NATTable()
        var first = try P.udp(from: 5000, to: P.proxyV4)
        var second = try P.udp(from: 5000, to: P.otherProxyV4)
        _ = try table.translateOutbound(&first, realDestination: P.realV4, now: .zero)
        let outside = try table.translateOutbound(&second, realDestination: P.realV4, now: .zero)
        #expect(outside.transport == .udp(port: 5001))
        #expect(try second.sourceProtocol() == .udp(port: 5001))
        P.expectChecksumsAsComputedAfresh(second)
    }

    @Test func portSearchWrapsFromTheHighestPortToOne() throws {
        var table = NATTable()
        var first = try P.tcp(from: 65_535, to: P.proxyV4)
        var second = try P.tcp(from: 65_535, to: P.otherProxyV4)
        _ = try table.translateOutbound(&first, realDestination: P.realV4, now: .zero)
        let outside = try table.translateOutbound(&second, realDestination: P.realV4, now: .zero)
        #expect(outside.transport == .tcp(port: 1))
        P.expectChecksumsAsComputedAfresh(second)
    }

    @Test func samePortTowardsDifferentRealAddressesIsKept() throws {
        var table = NATTable()
        var first = try P.udp(from: 5000, to: P.proxyV4)
        var second = try P.udp(from: 5000, to: P.otherProxyV4)
        _ = try table.translateOutbound(&first, realDestination: P.realV4, now: .zero)
        let outside = try table.translateOutbound(&second, realDestination: P.otherRealV4, now: .zero)
        #expect(outside.transport == .udp(port: 5000))
    }

    @Test func everyPortTakenRefusesTheSession() throws {
        // Sessions from every port 1 … 65,535 to one proxy IP take every outside port towards its real IP: a session
        // to another proxy IP of that real IP finds none.
        var table = NATTable()
        for port in UInt16(1)...UInt16.max {
            var packet = try P.udp(from: port, to: P.proxyV4)
            _ = try table.translateOutbound(&packet, realDestination: P.realV4, now: .zero)
        }
        var last = try P.udp(from: 7, to: P.otherProxyV4)
        let inside = NATTable.Inside(transport: .udp(port: 7), proxyAddress: P.otherProxyV4)
        #expect(throws: NATTableError.portsExhausted(inside, realAddress: P.realV4)) {
            try table.translateOutbound(&last, realDestination: P.realV4, now: .zero)
        }
    }

    @Test func fullTableRefusesNewSessionsButKeepsCarryingOpenOnes() throws {
        var table = NATTable(capacity: 2)
        var first = try P.udp(from: 1, to: P.proxyV4)
        var second = try P.udp(from: 2, to: P.proxyV4)
        var third = try P.udp(from: 3, to: P.proxyV4)
        _ = try table.translateOutbound(&first, realDestination: P.realV4, now: .zero)
        _ = try table.translateOutbound(&second, realDestination: P.realV4, now: .zero)
        #expect(throws: NATTableError.full(capacity: 2)) {
            try table.translateOutbound(&third, realDestination: P.realV4, now: .zero)
        }
        var again = try P.udp(from: 1, to: P.proxyV4)
        #expect(throws: Never.self) {
            try table.translateOutbound(&again, realDestination: P.realV4, now: P.at(1))
        }
    }

    @Test func newRealAddressForAnInsideKeyOpensANewSession() throws {
        var table = NATTable()
        var first = try P.udp(from: 5000, to: P.proxyV4)
        _ = try table.translateOutbound(&first, realDestination: P.realV4, now: .zero)
        var second = try P.udp(from: 5000, to: P.proxyV4)
        let outside = try table.translateOutbound(&second, realDestination: P.otherRealV4, now: P.at(1))
        #expect(outside.realAddress == P.otherRealV4)
        #expect(table.count == 1)
        var lateReply = try P.reply(to: first)
        #expect(
            table.translateInbound(&lateReply, now: P.at(2))
                == .expiredSession(
                    NATTable.Outside(transport: .udp(port: 5000), realAddress: P.realV4)
                )
        )
    }

    // MARK: Timeouts

    /// Opens a session with `packet` at time zero and confirms it with a reply at `confirmedAt`.
    private func confirmedSession(
        _ packet: IPPacket,
        confirmedAt: Int64 = 1,
        in table: inout NATTable
    ) throws -> IPPacket {
        var sent = packet
        _ = try table.translateOutbound(&sent, realDestination: P.realV4, now: .zero)
        var reply = try P.reply(to: sent)
        guard case .translated = table.translateInbound(&reply, now: P.at(confirmedAt)) else {
            Issue.record("the reply was not translated")
            return sent
        }
        return sent
    }

    /// Whether a reply to `sent` at `seconds` still finds its session, after the timeouts due by then.
    private func replyIsTranslated(to sent: IPPacket, at seconds: Duration, in table: inout NATTable) throws -> Bool {
        let now = Instant.zero + seconds
        table.handleTimeout(now: now)
        var reply = try P.reply(to: sent)
        switch table.translateInbound(&reply, now: now) {
        case .translated: return true
        case .expiredSession: return false
        case .translatedICMPError, .noSession:
            Issue.record("a reply to a packet of a session is neither translated nor expired")
            return false
        }
    }

    @Test func udpSessionEndsTwoMinutesAfterItsLastPacket() throws {
        var table = NATTable()
        let sent = try self.confirmedSession(try P.udp(), confirmedAt: 10, in: &table)
        #expect(try self.replyIsTranslated(to: sent, at: .seconds(129), in: &table))
        #expect(try !self.replyIsTranslated(to: sent, at: .seconds(129 + 120), in: &table))
    }

    @Test func icmpEchoSessionEndsTwoMinutesAfterItsLastPacket() throws {
        var table = NATTable()
        let request = try IPPacket.makeICMPEchoRequest(
            source: P.clientV4,
            destination: P.proxyV4,
            identifier: 9,
            sequenceNumber: 1
        )
        let sent = try self.confirmedSession(request, confirmedAt: 10, in: &table)
        #expect(try self.replyIsTranslated(to: sent, at: .seconds(129), in: &table))
        #expect(try !self.replyIsTranslated(to: sent, at: .seconds(129 + 120), in: &table))
    }

    @Test func tcpSessionEndsTwoHoursFourMinutesAfterItsLastPacket() throws {
        var table = NATTable()
        let sent = try self.confirmedSession(try P.tcp(), confirmedAt: 10, in: &table)
        let timeout: Int64 = 2 * 3600 + 4 * 60
        #expect(try self.replyIsTranslated(to: sent, at: .seconds(10 + timeout - 1), in: &table))
        #expect(try !self.replyIsTranslated(to: sent, at: .seconds(10 + 2 * timeout - 1), in: &table))
    }

    @Test func unconfirmedSessionEndsSixtySecondsAfterItsLastPacket() throws {
        var table = NATTable()
        var sent = try P.udp()
        _ = try table.translateOutbound(&sent, realDestination: P.realV4, now: .zero)
        var again = try P.udp()
        _ = try table.translateOutbound(&again, realDestination: P.realV4, now: P.at(30))
        #expect(table.pollTimeout()?.deadline == P.at(60))
        table.handleTimeout(now: P.at(60))
        #expect(table.count == 1)
        table.handleTimeout(now: P.at(90))
        #expect(table.count == 0)
        var late = try P.reply(to: sent)
        #expect(
            table.translateInbound(&late, now: P.at(91))
                == .expiredSession(
                    NATTable.Outside(transport: .udp(port: 40_000), realAddress: P.realV4)
                )
        )
    }

    @Test func bothFINsEndTheSessionFiveSecondsAfterItsLastPacket() throws {
        var table = NATTable()
        let sent = try self.confirmedSession(try P.tcp(), in: &table)
        var fin = try P.tcp(flags: [.fin, .ack])
        _ = try table.translateOutbound(&fin, realDestination: P.realV4, now: P.at(100))
        var finReply = try P.reply(to: sent, flags: [.fin, .ack])
        _ = table.translateInbound(&finReply, now: P.at(101))
        var lastAck = try P.tcp(flags: [.ack])
        _ = try table.translateOutbound(&lastAck, realDestination: P.realV4, now: P.at(102))
        table.handleTimeout(now: P.at(102))
        #expect(table.pollTimeout()?.deadline == P.at(107))
        #expect(try self.replyIsTranslated(to: sent, at: .seconds(106), in: &table))
        #expect(try !self.replyIsTranslated(to: sent, at: .seconds(111), in: &table))
    }

    @Test func oneFINKeepsTheFullTCPTimeout() throws {
        var table = NATTable()
        let sent = try self.confirmedSession(try P.tcp(), in: &table)
        var fin = try P.tcp(flags: [.fin, .ack])
        _ = try table.translateOutbound(&fin, realDestination: P.realV4, now: P.at(100))
        #expect(try self.replyIsTranslated(to: sent, at: .seconds(3600), in: &table))
    }

    @Test func outboundRSTEndsTheSessionAtOnce() throws {
        var table = NATTable()
        let sent = try self.confirmedSession(try P.tcp(), in: &table)
        var rst = try P.tcp(flags: [.rst])
        _ = try table.translateOutbound(&rst, realDestination: P.realV4, now: P.at(5))
        #expect(rst.destination == P.realV4, "the RST itself is still translated")
        #expect(table.count == 0)
        #expect(try !self.replyIsTranslated(to: sent, at: .seconds(5), in: &table))
    }

    @Test func inboundRSTEndsTheSessionAtOnce() throws {
        var table = NATTable()
        let sent = try self.confirmedSession(try P.tcp(), in: &table)
        var rst = try P.reply(to: sent, flags: [.rst])
        #expect(
            table.translateInbound(&rst, now: P.at(5))
                == .translated(
                    NATTable.Inside(transport: .tcp(port: 40_000), proxyAddress: P.proxyV4)
                )
        )
        #expect(table.count == 0)
        #expect(try !self.replyIsTranslated(to: sent, at: .seconds(5), in: &table))
    }

    @Test func sessionPastItsDeadlineIsExpiredEvenBeforeTheTimeoutIsHandled() throws {
        var table = NATTable()
        let sent = try self.confirmedSession(try P.udp(), in: &table)
        var late = try P.reply(to: sent)
        #expect(
            table.translateInbound(&late, now: P.at(121))
                == .expiredSession(
                    NATTable.Outside(transport: .udp(port: 40_000), realAddress: P.realV4)
                )
        )
    }

    @Test func endedSessionsAreForgottenAfterTenMinutes() throws {
        var table = NATTable()
        var sent = try P.udp()
        _ = try table.translateOutbound(&sent, realDestination: P.realV4, now: .zero)
        table.handleTimeout(now: P.at(60))
        #expect(table.pollTimeout()?.deadline == P.at(660))
        table.handleTimeout(now: P.at(660))
        #expect(table.pollTimeout() == nil)
        var late = try P.reply(to: sent)
        #expect(table.translateInbound(&late, now: P.at(661)) == .noSession)
    }

    @Test func hasSessionsFollowsOpenSessionsPerProxy() throws {
        var table = NATTable()
        var packet = try P.udp(to: P.proxyV4)
        _ = try table.translateOutbound(&packet, realDestination: P.realV4, now: .zero)
        #expect(table.hasSessions(toProxy: P.proxyV4))
        #expect(!table.hasSessions(toProxy: P.otherProxyV4))
        table.handleTimeout(now: P.at(60))
        #expect(!table.hasSessions(toProxy: P.proxyV4))
    }
}
