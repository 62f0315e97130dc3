import ConnlibCore
import FirezoneTesting
import FirezoneTime
import IPPacket
import Testing

private typealias P = NATTestPackets

/// Random flows through one table against a model of the timeouts, as Firezone's nat_table.rs property tests do
/// (`translates_back_and_forth_packet`, `can_handle_multiple_packets`): every reply on a live session comes back
/// from the proxy IP to the client's own port with checksums as computed afresh, no two live sessions share an
/// outside key, and a reply after its session's deadline is refused.
@Suite struct NATTablePropertyTests {
    enum Kind: CaseIterable {
        case udp, tcp, echo
    }

    struct Flow: Hashable {
        var kind: Kind
        var port: UInt16
        var proxy: IPAddress
    }

    /// What the model knows of a session: when it ends unless another packet comes.
    struct ModelSession {
        var outside: NATTable.Outside
        var lastOutbound: Instant
        var lastInbound: Instant?

        func deadline(_ kind: Kind) -> Instant {
            guard let lastInbound else {
                return self.lastOutbound + NATConstants.unconfirmedTimeout
            }
            let last = Swift.max(self.lastOutbound, lastInbound)
            switch kind {
            case .udp: return last + NATConstants.udpTimeout
            case .tcp: return last + NATConstants.tcpTimeout
            case .echo: return last + NATConstants.icmpTimeout
            }
        }
    }

    static let proxies = [P.proxyV4, P.otherProxyV4, P.proxyV6, IPAddress("fd00:2021:1111:8000::2")!]

    /// Each proxy IP's real IP: two proxies of a family share one, so that their sessions compete for ports.
    static func real(for proxy: IPAddress) -> IPAddress {
        proxy.version == .v4 ? P.realV4 : P.realV6
    }

    static func packet(_ flow: Flow) throws -> IPPacket {
        switch flow.kind {
        case .udp: try P.udp(from: flow.port, to: flow.proxy)
        case .tcp: try P.tcp(from: flow.port, to: flow.proxy, flags: [.ack])
        case .echo:
            try IPPacket.makeICMPEchoRequest(
                source: P.client(for: flow.proxy),
                destination: flow.proxy,
                identifier: flow.port,
                sequenceNumber: 1
            )
        }
    }

    @Test(arguments: TestSeeds.seeds(count: 20))
    func repliesOnLiveSessionsComeBackAndLateOnesAreRefused(seed: UInt64) throws {
        var random = SeededRandomNumberGenerator(seed: seed)
        var table = NATTable()
        var model: [Flow: ModelSession] = [:]
        var now = Instant.zero
        for step in 0..<400 {
            now = now + .seconds(Int64.random(in: 0...40, using: &random))
            table.handleTimeout(now: now)
            // Few ports, so that flows of one port to two proxies of one real IP collide.
            let flow = Flow(
                kind: Kind.allCases.randomElement(using: &random)!,
                port: UInt16.random(in: 1000...1003, using: &random),
                proxy: Self.proxies.randomElement(using: &random)!
            )
            let context = "seed \(seed) step \(step) \(flow); \(TestSeeds.replayHint(seed))"
            if let session = model[flow], session.deadline(flow.kind) <= now {
                model[flow] = nil
            }

            if Bool.random(using: &random) || model[flow] == nil {
                var packet = try Self.packet(flow)
                let outside = try table.translateOutbound(
                    &packet,
                    realDestination: Self.real(for: flow.proxy),
                    now: now
                )
                if let known = model[flow] {
                    #expect(outside == known.outside, "a live session keeps its outside key; \(context)")
                    model[flow]!.lastOutbound = now
                } else {
                    model[flow] = ModelSession(outside: outside, lastOutbound: now)
                }
                #expect(packet.destination == Self.real(for: flow.proxy), "\(context)")
                P.expectChecksumsAsComputedAfresh(packet)
            }

            // A reply, now or after a random wait that may outlast the session.
            let session = try #require(model[flow])
            let replyAt = now + .seconds(Int64.random(in: 0...150, using: &random))
            var reply = try P.reply(to: try Self.packet(flow).sent(on: session.outside))
            table.handleTimeout(now: replyAt)
            let result = table.translateInbound(&reply, now: replyAt)
            now = replyAt
            if session.deadline(flow.kind) > replyAt {
                let inside = NATTable.Inside(
                    transport: try Self.packet(flow).sourceProtocol(),
                    proxyAddress: flow.proxy
                )
                #expect(result == .translated(inside), "\(context)")
                #expect(reply.source == flow.proxy, "\(context)")
                #expect(try reply.destinationProtocol().value == flow.port, "\(context)")
                P.expectChecksumsAsComputedAfresh(reply)
                model[flow]!.lastInbound = replyAt
            } else {
                #expect(result == .expiredSession(session.outside), "\(context)")
                model[flow] = nil
            }
            // Sessions the reply's wait ended, in the model as in the table.
            for (other, otherSession) in model where otherSession.deadline(other.kind) <= now {
                model[other] = nil
            }
            let outsides = model.values.map(\.outside)
            #expect(Set(outsides).count == outsides.count, "no two live sessions share an outside key; \(context)")
            #expect(table.count == model.count, "\(context)")
        }
    }
}

extension IPPacket {
    /// This client's packet as the NAT sends it on `outside`: to the real IP, from the outside port.
    fileprivate func sent(on outside: NATTable.Outside) throws -> IPPacket {
        var sent = self
        sent.setDestination(outside.realAddress)
        try sent.setSourceProtocol(outside.transport.value)
        return sent
    }
}
