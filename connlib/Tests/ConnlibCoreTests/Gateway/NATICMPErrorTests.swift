import ConnlibCore
import FirezoneTime
import IPPacket
import Testing

private typealias P = NATTestPackets

/// Inbound ICMP errors about packets of NAT sessions: the quoted packet must read as the client sent it, and the
/// error must come from the proxy IP (RFC 5508 §4.2; Firezone's rust/connlib/tunnel/src/gateway/nat_table.rs).
@Suite struct NATICMPErrorTests {
    enum Flow: String, CaseIterable, Sendable {
        case udp, tcp, echo
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var version: IPVersion
        var type: UInt8
        var code: UInt8
        var restOfHeader: UInt32
        var flow: Flow

        var testDescription: String { self.name }
    }

    static let cases: [Case] = [
        Case(name: "IPv4 host unreachable, UDP", version: .v4, type: 3, code: 1, restOfHeader: 0, flow: .udp),
        Case(name: "IPv4 time exceeded, TCP", version: .v4, type: 11, code: 0, restOfHeader: 0, flow: .tcp),
        Case(name: "IPv4 fragmentation needed, echo", version: .v4, type: 3, code: 4, restOfHeader: 1280, flow: .echo),
        Case(name: "IPv6 packet too big, UDP", version: .v6, type: 2, code: 0, restOfHeader: 1280, flow: .udp),
        Case(name: "IPv6 port unreachable, TCP", version: .v6, type: 1, code: 4, restOfHeader: 0, flow: .tcp),
        Case(name: "IPv6 time exceeded, echo", version: .v6, type: 3, code: 0, restOfHeader: 0, flow: .echo),
    ]

    static func addresses(_ version: IPVersion) -> (proxy: IPAddress, otherProxy: IPAddress, real: IPAddress) {
        switch version {
        case .v4: (P.proxyV4, P.otherProxyV4, P.realV4)
        case .v6: (P.proxyV6, IPAddress("fd00:2021:1111:8000::2")!, P.realV6)
        }
    }

    static func packet(_ flow: Flow, from port: UInt16, to destination: IPAddress) throws -> IPPacket {
        switch flow {
        case .udp: try P.udp(from: port, to: destination)
        case .tcp: try P.tcp(from: port, to: destination)
        case .echo:
            try IPPacket.makeICMPEchoRequest(
                source: P.client(for: destination),
                destination: destination,
                identifier: port,
                sequenceNumber: 3,
                payload: P.payload("ping")
            )
        }
    }

    @Test(arguments: cases)
    func errorAboutASessionsPacketQuotesThePacketAsTheClientSentIt(_ testCase: Case) throws {
        var table = NATTable()
        let (proxy, otherProxy, real) = Self.addresses(testCase.version)
        // Another session holds the client's port towards the real IP, so that the NAT moves it: the quote must
        // get the client's port back.
        var blocker = try Self.packet(testCase.flow, from: 5000, to: otherProxy)
        _ = try table.translateOutbound(&blocker, realDestination: real, now: .zero)
        let original = try Self.packet(testCase.flow, from: 5000, to: proxy)
        var sent = original
        let outside = try table.translateOutbound(&sent, realDestination: real, now: .zero)
        #expect(outside.transport.value == 5001)
        let router = testCase.version == .v4 ? P.routerV4 : P.routerV6

        var error = try P.icmpError(
            type: testCase.type,
            code: testCase.code,
            restOfHeader: testCase.restOfHeader,
            from: router,
            quoting: sent
        )
        let result = table.translateInbound(&error, now: P.at(1))

        let inside = NATTable.Inside(transport: try original.sourceProtocol(), proxyAddress: proxy)
        #expect(result == .translatedICMPError(inside))
        #expect(error.source == proxy)
        #expect(error.destination == P.client(for: proxy))
        let icmp = try #require(error.icmp)
        #expect(icmp.type == testCase.type)
        #expect(icmp.code == testCase.code)
        #expect(icmp.restOfHeader == testCase.restOfHeader)
        P.expectChecksumsAsComputedAfresh(error)
        // The quote is byte for byte the start of what the client sent: addresses, port, and the checksums of the
        // quoted IPv4 header and transport header, updated incrementally, as the client computed them.
        let quote = Array(error.payload.readableBytesView)
        #expect(quote == Array(P.bytes(original).prefix(quote.count)))
        #expect(quote.count >= (testCase.version == .v4 ? 28 : original.length))
    }

    @Test func errorAboutAnEndedSessionIsExpired() throws {
        var table = NATTable()
        var sent = try P.udp()
        _ = try table.translateOutbound(&sent, realDestination: P.realV4, now: .zero)
        table.handleTimeout(now: P.at(60))
        var error = try P.icmpError(type: 3, code: 1, from: P.routerV4, quoting: sent)
        #expect(
            table.translateInbound(&error, now: P.at(61))
                == .expiredSession(
                    NATTable.Outside(transport: .udp(port: 40_000), realAddress: P.realV4)
                )
        )
    }

    @Test func errorAboutAPacketOfNoSessionIsLeftUntouched() throws {
        var table = NATTable()
        let cidrTraffic = try P.udp(to: P.realV4)
        var error = try P.icmpError(type: 3, code: 1, from: P.routerV4, quoting: cidrTraffic)
        let before = P.bytes(error)
        #expect(table.translateInbound(&error, now: .zero) == .noSession)
        #expect(P.bytes(error) == before)
    }
}
