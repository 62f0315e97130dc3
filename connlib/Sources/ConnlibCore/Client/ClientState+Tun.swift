import FirezoneTime
import IPPacket
import NIOCore
import PortalMessages
import Snownet

extension ClientState {
    /// Takes one packet the TUN device read (Firezone's rust/connlib/tunnel/src/client.rs, `handle_tun_input`):
    /// LLMNR and DNS sentinel queries go to the stub, other multicast and packets to addresses no packet may be sent
    /// to are dropped, the source must be our tunnel address, then the packet follows its route: to a connected
    /// gateway's own address, or to the resource that covers the destination. A resource's filters may refuse it
    /// (ICMP administratively prohibited back into the TUN device); a resource without an established flow keeps a
    /// copy in its buffer and asks the portal for a flow.
    ///
    /// Returns where the datagram now in `packet`'s readable bytes goes: the packet sealed in place, in `packet`'s
    /// storage, which `packet` holds again on every path (a shell hands its read buffer and sends the datagram from
    /// there; Firezone's `handle_tun_input` returns the encrypted packet too). Nil when nothing is to be sent now.
    /// What the state keeps for later it copies, so that the caller may overwrite its buffer once this returns.
    /// Nothing is copied when `packet` is the only reference to its storage and has ``NodeConstants/headroom``
    /// bytes in front and ``NodeConstants/tailroom`` behind; without that room it is copied into a buffer that has.
    public mutating func handleTunInput(_ packet: inout ByteBuffer, now: Instant) -> NodeDestination? {
        self.lastNow = now
        guard !self.shuttingDown else {
            self.stats.count(.shuttingDown)
            return nil
        }
        // The two addresses alone: a copy of the whole interface would retain its resolvers and search domain.
        guard let ipv4 = self.interface?.ipv4, let ipv6 = self.interface?.ipv6 else {
            self.stats.count(.notOurAddress)
            return nil
        }
        let ourV4 = IPAddress.v4(ipv4)
        let ourV6 = IPAddress.v6(ipv6)
        let parsed: IPPacket
        do {
            parsed = try IPPacket(packet)
        } catch {
            self.stats.count(.malformed)
            return nil
        }
        let destination = parsed.destination
        // The stub keeps parts of a query beyond this call (a recursion's bytes, a query waiting for its flow):
        // it gets a copy of its own. DNS is not the data path.
        if Self.isInterceptedForDNS(destination) {
            self.interceptDNS(parsed.copy(), now: now)
            return nil
        }
        switch SpecialPurposeAddress(destination) {
        case .multicast:
            // Later Firezone drops multicast first; LLMNR, which is multicast, was intercepted above.
            self.stats.count(.multicast)
            return nil
        case .thisNetwork, .unspecified, .limitedBroadcast:
            // No packet may go to these (RFC 1122 §3.2.1.3: 0.0.0.0/8 only as a source; RFC 4291 §2.5.2: never ::;
            // RFC 1812 §5.3.5.1: routers never forward 255.255.255.255), yet the Internet resource's default routes
            // would take them to a gateway and ask the portal for a flow.
            self.stats.count(.notADestination)
            return nil
        case .loopback, .privateUse, .sharedAddressSpace, .linkLocal, .uniqueLocal, .ietfProtocolAssignments,
            .documentation, .benchmarking, .ipv4Mapped, .ipv4Translation, .discardOnly, .reserved, nil:
            break
        }
        // Later Firezone's check (Firezone 685acdac3a has none): a packet not from us, or to us, has no place in a tunnel.
        guard parsed.source == ourV4 || parsed.source == ourV6, destination != ourV4, destination != ourV6 else {
            self.stats.count(.notOurAddress)
            return nil
        }
        let gateway: GatewayID
        let transport = try? parsed.destinationProtocol()
        if AddressPlan.isTunnelAddress(destination), let peer = self.gateway(withTunnelAddress: destination) {
            // Traffic to a gateway itself, such as DNS to its port 53535.
            guard self.gateways[peer]?.established == true else {
                self.stats.count(.flowFailed)
                self.drainNode(now: now)
                return nil
            }
            gateway = peer
        } else if let cached = self.routeCache.gateway(to: destination, transport: transport) {
            // The same destination and port as the last packet sealed, and nothing its route is made of changed.
            gateway = cached
        } else {
            guard let match = self.routing.lookup(destination, transport: transport) else {
                self.stats.count(.unknownResource)
                return nil
            }
            guard match.route.filter.permits(parsed) else {
                self.stats.count(.filtered)
                self.tunWrites.append(
                    IPPacket.makeICMPDestinationUnreachable(for: parsed, reason: .administrativelyProhibited)
                )
                return nil
            }
            guard let through = self.admit(parsed, to: match.route.resourceID, now: now) else {
                self.drainNode(now: now)
                return nil
            }
            gateway = through
            // A proxy address's packets pass the DNS-resource NAT each time, which may hold them or add a message.
            if self.proxyRecords[destination] == nil {
                self.routeCache.rememberOutbound(to: destination, transport: transport, via: gateway)
            }
        }
        // The packet's storage has one reference again, `packet`'s, when it is sealed.
        packet = (consume parsed).intoBuffer().withEncapsulationRoom()
        let sealed = self.seal(&packet, for: gateway, now: now)
        self.drainNode(now: now)
        return sealed
    }

    /// ``handleTunInput(_:now:)`` for a caller that hands over its packet: the datagram is queued for
    /// ``pollTransmit()``.
    public mutating func handleTunInput(_ packet: consuming IPPacket, now: Instant) {
        var buffer = packet.intoBuffer()
        if let destination = self.handleTunInput(&buffer, now: now) {
            self.transmits.append(
                NodeTransmit(source: destination.source, destination: destination.destination, payload: buffer)
            )
        }
    }

    /// Sends a packet for `resource` via its gateway, or keeps a copy until the flow is established.
    mutating func route(_ packet: IPPacket, to resource: ResourceID, now: Instant) {
        if let gateway = self.admit(packet, to: resource, now: now) {
            self.send(packet, via: gateway, now: now)
        }
    }

    /// The gateway a packet for `resource` goes through now; nil when it waits: a copy in the resource's buffer
    /// while its flow is requested or set up, or in the DNS-resource NAT's until the gateway mapped its name.
    mutating func admit(_ packet: IPPacket, to resource: ResourceID, now: Instant) -> GatewayID? {
        guard let gateway = self.gatewayByResource[resource] else {
            self.buffer(packet, for: resource)
            self.requestFlow(for: resource, now: now)
            return nil
        }
        guard self.gateways[gateway]?.established == true else {
            self.buffer(packet, for: resource)
            return nil
        }
        return self.passesDNSResourceNAT(packet, via: gateway, now: now) ? gateway : nil
    }

    /// Sends a packet of an established flow, unless the DNS-resource NAT keeps it.
    mutating func deliver(_ packet: IPPacket, via gateway: GatewayID, now: Instant) {
        if self.passesDNSResourceNAT(packet, via: gateway, now: now) {
            self.send(packet, via: gateway, now: now)
        }
    }

    /// Whether a packet of an established flow goes out now. One to a DNS resource's proxy address waits until the
    /// gateway mapped the name (the DNS-resource NAT; Firezone's rust/connlib/tunnel/src/client/dns_resource_nat.rs).
    private mutating func passesDNSResourceNAT(_ packet: IPPacket, via gateway: GatewayID, now: Instant) -> Bool {
        guard let record = self.proxyRecords[packet.destination] else {
            return true
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
        return outgoing.packet != nil
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
