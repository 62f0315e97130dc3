import FirezoneTime
import IPPacket
import NIOCore
import PortalMessages

/// A query the stub passes to an upstream resolver outside the tunnel: the shell sends `query` to `server` from the
/// host and hands the outcome to ``ClientState/handleDNSResponse(_:result:now:)``.
public struct RecursiveDNSQuery: Hashable, Sendable {
    public var server: IPSocketAddress
    public var query: ByteBuffer
    /// The application's socket that asked (our tunnel address and its port).
    public var client: IPSocketAddress
    /// The sentinel it asked, from which the answer comes back.
    public var sentinel: IPSocketAddress
    /// How the shell sends `query` to `server`: as the application asked the stub.
    public var transport: DNSTransport
    /// The application's TCP connection the answer goes back on, when it asked over TCP.
    var connection: DNSTCPConnectionID?

    public init(
        server: IPSocketAddress,
        query: ByteBuffer,
        client: IPSocketAddress,
        sentinel: IPSocketAddress,
        transport: DNSTransport = .udp
    ) {
        self.server = server
        self.query = query
        self.client = client
        self.sentinel = sentinel
        self.transport = transport
    }
}

/// So that the shell reports an upstream's outcome as a `Result`.
extension DNSUpstreamFailure: Error {}

extension ClientState {
    /// The DNS port of the sentinels.
    static let dnsPort = DNSConstants.port

    /// A query the client sent through the tunnel on the application's behalf, by the application's port and the
    /// server it went to: the answer comes back from that server and must look as if the sentinel sent it.
    struct TunnelledQuery: Hashable {
        var clientPort: UInt16
        var server: IPSocketAddress
    }

    // MARK: Host

    /// The operating system's resolvers, the stub's upstreams when the portal configures none.
    public mutating func updateSystemResolvers(_ resolvers: [IPSocketAddress], now: Instant) {
        self.lastNow = now
        self.systemResolvers = resolvers
        self.updateUpstreams()
        self.resourcesDidChange()
    }

    /// A query for the shell to resolve outside the tunnel.
    public mutating func pollDNSQuery() -> RecursiveDNSQuery? {
        self.dnsQueries.popFirst()
    }

    /// The outcome of a ``RecursiveDNSQuery``: the upstream's answer, or how it failed (a timeout gets no answer,
    /// any other failure SERVFAIL; Firezone's rust/connlib/tunnel/src/client.rs).
    public mutating func handleDNSResponse(
        _ query: RecursiveDNSQuery,
        result: Result<ByteBuffer, DNSUpstreamFailure>,
        now: Instant
    ) {
        self.lastNow = now
        let answer: ByteBuffer
        switch result {
        case .success(let bytes):
            answer = bytes
        case .failure(let failure):
            guard let response = StubResolver.responseToUpstreamFailure(query: query.query, failure) else {
                return
            }
            answer = response
        }
        if let connection = query.connection {
            self.answerOverTCP(answer, on: connection, now: now)
            return
        }
        self.answer(answer, from: query.sentinel, to: query.client)
    }

    /// The records of the proxy addresses, for the shell to hand to the next session of this process (#10104).
    public var dnsRecords: ProxyIPSnapshot {
        self.stub.records
    }

    mutating func updateUpstreams() {
        self.stub.setUpstreams(portal: self.interface?.upstreamDNS ?? [], system: self.systemResolvers)
    }

    // MARK: TUN input

    /// Hands DNS queries to the stub resolver: UDP to a sentinel's port 53, and LLMNR (RFC 4795), for which the
    /// client answers the names of DNS resources and stays silent otherwise, as connlib does with its
    /// `drop_llmnr_nxdomain_responses` flag on. For a packet whose destination ``isInterceptedForDNS(_:)``.
    mutating func interceptDNS(_ packet: IPPacket, now: Instant) {
        let destination = packet.destination
        if destination == AddressPlan.llmnrV4 || destination == AddressPlan.llmnrV6 {
            guard let udp = packet.udp, udp.destinationPort == AddressPlan.llmnrPort,
                let sentinel = self.stub.sentinels.first?.sentinel,
                case .answer(let bytes, let resolved?) = self.stub.handleQuery(packet.payload, sentinel: sentinel)
            else {
                self.stats.count(.multicast)
                return
            }
            self.noteResolved(resolved)
            let responder = IPSocketAddress(sentinel, port: AddressPlan.llmnrPort)
            self.answer(bytes, from: responder, to: IPSocketAddress(packet.source, port: udp.sourcePort))
            return
        }
        if packet.tcp != nil {
            self.handleDNSOverTCP(packet, now: now)
            return
        }
        guard let udp = packet.udp, udp.destinationPort == Self.dnsPort else {
            self.stats.count(.unknownSentinel)
            return
        }
        let client = IPSocketAddress(packet.source, port: udp.sourcePort)
        let sentinel = IPSocketAddress(destination, port: Self.dnsPort)
        switch self.stub.handleQuery(packet.payload, sentinel: destination) {
        case .answer(let bytes, let resolved):
            if let resolved {
                self.noteResolved(resolved)
            }
            self.answer(bytes, from: sentinel, to: client)
        case .forwardToGateway(let resource, _):
            self.forwardToGateway(packet, resource: resource, sentinel: sentinel, now: now)
        case .recurse(let upstream, let query, let viaTunnel):
            if viaTunnel {
                self.recurseThroughTunnel(packet, to: upstream, sentinel: sentinel, now: now)
            } else {
                self.dnsQueries.append(
                    RecursiveDNSQuery(server: upstream, query: query, client: client, sentinel: sentinel)
                )
            }
        case .drop:
            self.stats.count(.unknownSentinel)
        }
    }

    /// Whether a packet to `destination` is the stub's: a DNS sentinel, or LLMNR's multicast group.
    static func isInterceptedForDNS(_ destination: IPAddress) -> Bool {
        destination == AddressPlan.llmnrV4 || destination == AddressPlan.llmnrV6 || AddressPlan.isSentinel(destination)
    }

    /// New proxy addresses become routes to their resource (and TUN routes). Every answer asks the gateways to
    /// resolve the name again (connlib's `recreate`), so that the real addresses follow the name's DNS.
    mutating func noteResolved(_ resolved: ResolvedResourceName) {
        self.dnsResourceNAT.recreate(domain: resolved.record.domain)
        guard resolved.newlyAssigned else {
            return
        }
        self.resourcesDidChange()
        self.events.append(.dnsRecordsChanged(self.stub.records))
    }

    /// SRV and TXT for a resource: only its site can resolve them, through the DNS server of the gateway that
    /// serves it on port 53535. Without an established flow the query waits in the resource's buffer like any of
    /// its packets, and goes to the gateway once the flow is up (``flushPendingPackets(of:via:now:)``).
    mutating func forwardToGateway(
        _ packet: IPPacket,
        resource: ResourceID,
        sentinel: IPSocketAddress,
        now: Instant
    ) {
        guard let gateway = self.gatewayByResource[resource], let peer = self.gateways[gateway], peer.established
        else {
            self.route(packet, to: resource, now: now)
            return
        }
        let server: IPAddress =
            switch packet.version {
            case .v4: .v4(peer.ipv4)
            case .v6: .v6(peer.ipv6)
            }
        self.tunnel(packet, to: IPSocketAddress(server, port: AddressPlan.gatewayDNSPort), sentinel: sentinel) {
            state,
            rewritten in
            state.send(rewritten, via: gateway, now: now)
        }
    }

    /// A query for a portal-configured upstream that a resource covers: it goes to the upstream through the tunnel
    /// like any packet for that resource, judged first by that resource's filters as any packet from the TUN device
    /// is (Firezone's rust/connlib/tunnel/src/client.rs). One the filters deny, or that no resource routes, gets
    /// SERVFAIL from the sentinel rather than a flow request the gateway would refuse, since the application never
    /// sent a packet to the upstream that an ICMP error could name.
    mutating func recurseThroughTunnel(
        _ packet: IPPacket,
        to upstream: IPSocketAddress,
        sentinel: IPSocketAddress,
        now: Instant
    ) {
        guard upstream.address.version == packet.version else {
            // The packet cannot be rewritten across families; the shell resolves it instead.
            if let udp = packet.udp {
                var query = RecursiveDNSQuery(
                    server: upstream,
                    query: packet.payload,
                    client: IPSocketAddress(packet.source, port: udp.sourcePort),
                    sentinel: sentinel
                )
                if let connection = self.tcpOrigin(of: packet) {
                    query.transport = .tcp
                    query.connection = connection
                }
                self.dnsQueries.append(query)
            }
            return
        }
        // The query travels as UDP whichever way the application asked (over TCP too), so UDP to the upstream's
        // port is what the resource's filters judge.
        let transport = TransportProtocol.udp(port: upstream.port)
        guard let match = self.routing.lookup(upstream.address, transport: transport) else {
            self.refuseRecursion(packet, sentinel: sentinel, reason: .dnsUpstreamUnrouted, now: now)
            return
        }
        guard match.route.filter.permits(transport) else {
            self.refuseRecursion(packet, sentinel: sentinel, reason: .dnsUpstreamFiltered, now: now)
            return
        }
        let resource = match.route.resourceID
        self.tunnel(packet, to: upstream, sentinel: sentinel) { state, rewritten in
            state.route(rewritten, to: resource, now: now)
        }
    }

    /// Answers a query the tunnel may not carry with SERVFAIL, on the application's TCP connection if it asked over
    /// TCP, else from the sentinel over UDP.
    private mutating func refuseRecursion(
        _ packet: IPPacket,
        sentinel: IPSocketAddress,
        reason: ClientDropReason,
        now: Instant
    ) {
        self.stats.count(reason)
        guard let udp = packet.udp, let query = try? DNSMessage(parsingQuery: packet.payload) else {
            self.stats.count(.malformed)
            return
        }
        let response = query.makeServerFailure()
        if let connection = self.tcpOrigin(of: packet) {
            self.answerOverTCP(response, on: connection, now: now)
            return
        }
        self.answer(response, from: sentinel, to: IPSocketAddress(packet.source, port: udp.sourcePort))
    }

    private mutating func tunnel(
        _ packet: IPPacket,
        to server: IPSocketAddress,
        sentinel: IPSocketAddress,
        send: (inout ClientState, IPPacket) -> Void
    ) {
        guard let udp = packet.udp else {
            return
        }
        var rewritten = packet
        do {
            try rewritten.translateDestination(to: server.address, port: server.port)
        } catch {
            self.stats.count(.malformed)
            return
        }
        self.tunnelledQueries.insert(sentinel, for: TunnelledQuery(clientPort: udp.sourcePort, server: server))
        send(&self, rewritten)
    }

    /// An answer that came through the tunnel for a query the client sent there: it leaves the tunnel as the
    /// sentinel's answer.
    mutating func restoreSentinel(of packet: inout IPPacket) {
        // Per packet from a gateway: no hash while no query is outstanding.
        guard !self.tunnelledQueries.isEmpty, let udp = packet.udp,
            let sentinel = self.tunnelledQueries.value(
                for: TunnelledQuery(
                    clientPort: udp.destinationPort,
                    server: IPSocketAddress(packet.source, port: udp.sourcePort)
                )
            )
        else {
            return
        }
        do {
            try packet.translateSource(to: sentinel.address, port: sentinel.port)
        } catch {
            self.stats.count(.malformed)
        }
    }

    /// Writes a DNS answer into the TUN device as a UDP packet; one too large for the MTU goes truncated, so that
    /// the application asks again over TCP.
    private mutating func answer(_ bytes: ByteBuffer, from source: IPSocketAddress, to destination: IPSocketAddress) {
        guard source.address.version == destination.address.version else {
            return
        }
        var bytes = bytes
        let headers =
            (source.address.version == .v4
                ? IPPacketConstants.ipv4MinimumHeaderLength : IPPacketConstants.ipv6HeaderLength)
            + IPPacketConstants.udpHeaderLength
        if headers + bytes.readableBytes > IPPacketConstants.maximumPacketLength {
            guard let response = try? DNSMessage(parsingResponse: bytes) else {
                self.stats.count(.malformed)
                return
            }
            bytes = response.makeTruncated()
        }
        do {
            self.tunWrites.append(
                try IPPacket.makeUDP(
                    source: source.address,
                    sourcePort: source.port,
                    destination: destination.address,
                    destinationPort: destination.port,
                    payload: bytes
                )
            )
        } catch {
            self.stats.count(.malformed)
        }
    }
}
