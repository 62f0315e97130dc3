import FirezoneTime
import IPPacket
import NIOCore
import PortalMessages

extension ClientState {
    /// Takes one datagram from a UDP socket (Firezone's rust/connlib/tunnel/src/client.rs). snownet consumes what is its own
    /// (STUN, TURN, handshakes); a decrypted packet from a gateway is returned for the TUN device when its source is
    /// the gateway itself or an address of a resource routed via that gateway. Peer-to-peer control messages are
    /// consumed. An ICMP administratively prohibited for a resource's packet means the gateway no longer allows the
    /// flow: the client asks the portal for a new one (later Firezone's
    /// `FZFF_ICMP_ERROR_UNREACHABLE_PROHIBITED_CREATE_NEW_FLOW`, which Firezone 685acdac3a lacks: a revoked then re-granted
    /// resource works again without waiting for the connection to fail).
    ///
    /// The datagram is opened in place: the returned packet lies in `datagram`'s storage, which `datagram` holds
    /// again on every path (a shell hands its receive buffer and writes the packet from there). Nothing is copied
    /// when `datagram` is the only reference to its storage.
    public mutating func handleNetworkInput(
        _ datagram: inout ByteBuffer,
        from source: IPSocketAddress,
        local: IPSocketAddress,
        now: Instant
    ) -> IPPacket? {
        self.lastNow = now
        defer { self.drainNode(now: now) }
        let sender: GatewayID?
        do {
            sender = try self.node.decapsulate(&datagram, from: source, local: local, now: now)
        } catch {
            self.stats.count(.network)
            return nil
        }
        guard let gateway = sender else {
            return nil
        }
        let packet: IPPacket
        do {
            packet = try IPPacket(datagram)
        } catch {
            self.stats.count(.malformed)
            return nil
        }
        if packet.isFZP2PControl {
            self.handleControlMessage(packet, from: gateway, now: now)
            return nil
        }
        guard self.isAllowedSource(packet, from: gateway) else {
            self.stats.count(.spoofedSource)
            return nil
        }
        self.reactToProhibited(packet, from: gateway, now: now)
        if self.takeAnswerOverTCP(packet, now: now) {
            return nil
        }
        // The packet holds the storage's only reference while it is rewritten; `datagram` gets it back.
        _ = consume datagram
        var delivered = consume packet
        self.restoreSentinel(of: &delivered)
        datagram = delivered.buffer
        return delivered
    }

    /// Whether `gateway` may send a packet from this source: its own tunnel address, or an address of a resource
    /// it serves us (later Firezone's rule; Firezone 685acdac3a's WireGuard allowed IPs amount to the same).
    mutating func isAllowedSource(_ packet: IPPacket, from gateway: GatewayID) -> Bool {
        let source = packet.source
        let transport = try? packet.sourceProtocol()
        // ICMP is decided the long way every time: an error is judged by the packet it quotes.
        let cacheable = packet.icmp == nil
        if cacheable, self.routeCache.allowsInbound(from: source, transport: transport, gateway: gateway) {
            return true
        }
        guard let peer = self.gateways[gateway] else {
            return false
        }
        if source == .v4(peer.ipv4) || source == .v6(peer.ipv6) {
            return true
        }
        // A reply comes from the address and port the client's packet went to, so looking its source up as the
        // client looked up that destination finds the route the flow took. An ICMP error about the client's packet
        // is looked up by the packet it quotes: its own protocol says nothing of the flow, and with filters a bare
        // address can pick another resource than the one whose gateway answered.
        let match: ClientRoutingTable.Match?
        if !cacheable, let (_, failed) = try? packet.icmpError() {
            match = self.routing.lookup(failed.destination, transport: failed.destinationProtocol)
        } else {
            match = self.routing.lookup(source, transport: transport)
        }
        guard let match, self.gatewayByResource[match.route.resourceID] == gateway else {
            return false
        }
        if cacheable {
            self.routeCache.rememberInbound(from: source, transport: transport, gateway: gateway)
        }
        return true
    }

    private mutating func reactToProhibited(_ packet: IPPacket, from gateway: GatewayID, now: Instant) {
        guard let (error, failed) = try? packet.icmpError() else {
            return
        }
        switch error {
        case .v4Unreachable(code: 13), .v6Unreachable(code: 1):
            break
        default:
            return
        }
        guard let match = self.routing.lookup(failed.destination, transport: failed.destinationProtocol),
            self.gatewayByResource[match.route.resourceID] == gateway
        else {
            return
        }
        let resource = match.route.resourceID
        self.logger.debug(
            "Gateway prohibited a flow, asking for a new one",
            metadata: ["gateway.id": "\(gateway)", "resource.id": "\(resource)"]
        )
        self.endFlow(of: resource)
        self.requestFlow(for: resource, now: now)
    }

    /// A peer-to-peer control message from a gateway (Firezone's rust/connlib/tunnel/src/p2p_control.rs).
    mutating func handleControlMessage(_ packet: IPPacket, from gateway: GatewayID, now: Instant) {
        let message: P2PControlMessage
        do {
            message = try P2PControlMessage(parsing: packet)
        } catch {
            self.stats.count(.invalidControlMessage)
            return
        }
        switch message {
        case .goodbye:
            // The gateway closed its side: the connection is gone now, not after ICE gives up.
            self.logger.info("Gateway said goodbye", metadata: ["gateway.id": "\(gateway)"])
            self.node.removeConnection(gateway, now: now)
            self.forgetGateway(gateway)
        case .domainStatus(let resource, let domain, let status):
            self.handleDomainStatus(resource: resource, domain: domain, status: status, from: gateway, now: now)
        case .assignedIPs:
            // Client → gateway only.
            self.stats.count(.invalidControlMessage)
        }
    }

    /// A gateway's answer to our proxy addresses for a DNS resource's name: active releases the packets that
    /// waited for it.
    mutating func handleDomainStatus(
        resource: ResourceID,
        domain: String,
        status: P2PControlMessage.DomainStatus,
        from gateway: GatewayID,
        now: Instant
    ) {
        guard let name = try? DomainName(domain) else {
            self.stats.count(.invalidControlMessage)
            return
        }
        let released = self.dnsResourceNAT.handleDomainStatus(
            gateway: gateway,
            resource: resource,
            domain: name,
            status: status
        )
        for packet in released {
            self.send(packet, via: gateway, now: now)
        }
    }
}
