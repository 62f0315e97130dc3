import FirezoneTime
import IPPacket
import PortalMessages

extension ClientState {
    /// Takes one packet the TUN device read (Firezone's rust/connlib/tunnel/src/client.rs, `handle_tun_input`): LLMNR
    /// and DNS sentinel queries go to the stub, other multicast and packets to addresses no packet may be sent to are
    /// dropped, the source must be our tunnel address, then the packet follows its route: to a connected gateway's
    /// own address, or to the resource that covers the destination. A resource's filters may refuse it (ICMP
    /// administratively prohibited back into the TUN device); a resource without an established flow keeps it in
    /// its buffer and asks the portal for a flow. Consuming: a packet handed over as its last reference is sealed in
    /// place, not copied on write.
    public mutating func handleTunInput(_ packet: consuming IPPacket, now: Instant) {
        self.lastNow = now
        guard !self.shuttingDown else {
            self.stats.count(.shuttingDown)
            return
        }
        guard let interface = self.interface else {
            self.stats.count(.notOurAddress)
            return
        }
        let destination = packet.destination
        if self.interceptDNS(packet, now: now) {
            return
        }
        switch SpecialPurposeAddress(destination) {
        case .multicast:
            // Later Firezone drops multicast first; LLMNR, which is multicast, was intercepted above.
            self.stats.count(.multicast)
            return
        case .thisNetwork, .unspecified, .limitedBroadcast:
            // No packet may go to these (RFC 1122 §3.2.1.3: 0.0.0.0/8 only as a source; RFC 4291 §2.5.2: never ::;
            // RFC 1812 §5.3.5.1: routers never forward 255.255.255.255), yet the Internet resource's default routes
            // would take them to a gateway and ask the portal for a flow.
            self.stats.count(.notADestination)
            return
        case .loopback, .privateUse, .sharedAddressSpace, .linkLocal, .uniqueLocal, .ietfProtocolAssignments,
            .documentation, .benchmarking, .ipv4Mapped, .ipv4Translation, .discardOnly, .reserved, nil:
            break
        }
        // Later Firezone's check (Firezone 685acdac3a has none): a packet not from us, or to us, has no place in a tunnel.
        let ourV4 = IPAddress.v4(interface.ipv4)
        let ourV6 = IPAddress.v6(interface.ipv6)
        guard packet.source == ourV4 || packet.source == ourV6, destination != ourV4, destination != ourV6 else {
            self.stats.count(.notOurAddress)
            return
        }
        if AddressPlan.isTunnelAddress(destination), let gateway = self.gateway(withTunnelAddress: destination) {
            // Traffic to a gateway itself, such as DNS to its port 53535.
            if self.gateways[gateway]?.established == true {
                self.send(packet, via: gateway, now: now)
            } else {
                self.stats.count(.flowFailed)
            }
            self.drainNode(now: now)
            return
        }
        let transport = try? packet.destinationProtocol()
        guard let match = self.routing.lookup(destination, transport: transport) else {
            self.stats.count(.unknownResource)
            return
        }
        guard match.route.filter.permits(packet) else {
            self.stats.count(.filtered)
            self.tunWrites.append(
                IPPacket.makeICMPDestinationUnreachable(for: packet, reason: .administrativelyProhibited)
            )
            return
        }
        self.route(packet, to: match.route.resourceID, now: now)
        self.drainNode(now: now)
    }

    /// Sends a packet for `resource` via its gateway, or keeps it until the flow is established.
    mutating func route(_ packet: consuming IPPacket, to resource: ResourceID, now: Instant) {
        guard let gateway = self.gatewayByResource[resource] else {
            self.buffer(packet, for: resource)
            self.requestFlow(for: resource, now: now)
            return
        }
        guard self.gateways[gateway]?.established == true else {
            self.buffer(packet, for: resource)
            return
        }
        self.deliver(packet, via: gateway, now: now)
    }

    /// Sends a packet of an established flow. One to a DNS resource's proxy address waits until the gateway
    /// mapped the name (the DNS-resource NAT; Firezone's rust/connlib/tunnel/src/client/dns_resource_nat.rs).
    mutating func deliver(_ packet: consuming IPPacket, via gateway: GatewayID, now: Instant) {
        guard let record = self.proxyRecords[packet.destination] else {
            self.send(packet, via: gateway, now: now)
            return
        }
        let outgoing = self.dnsResourceNAT.handleOutgoing(
            packet,
            gateway: gateway,
            domain: record.domain,
            resource: record.resource,
            proxyIPs: record.proxyIPs,
            now: now
        )
        if let control = outgoing.control {
            self.sendControl(control, via: gateway, now: now)
        }
        if let packet = outgoing.packet {
            self.send(packet, via: gateway, now: now)
        }
    }

    mutating func sendControl(_ message: P2PControlMessage, via gateway: GatewayID, now: Instant) {
        do {
            self.send(try message.makePacket(), via: gateway, now: now)
        } catch {
            self.stats.count(.invalidControlMessage)
        }
    }

    func gateway(withTunnelAddress address: IPAddress) -> GatewayID? {
        self.gateways.first { _, peer in
            address == .v4(peer.ipv4) || address == .v6(peer.ipv6)
        }?.key
    }
}
