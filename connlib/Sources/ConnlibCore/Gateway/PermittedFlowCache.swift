import IPPacket

/// The last flow each way that one client's CIDR or Internet resources let through, so that the flow's next
/// packets skip the longest-prefix lookup, the filters and the DNS-resource NAT's session lookup: one comparison
/// of the packet's addresses and ports instead.
///
/// A flow's verdict depends on its packets' addresses and ports (or ICMP echo identifiers) and on the client's
/// authorizations. ``ClientOnGateway`` clears the cache whenever an authorization, its filters or its expiry
/// removal change what the client may reach, and when the gateway's tunnel addresses change; the NAT's side is
/// judged here, by the count of sessions it ever opened. A packet with a port or identifier on both sides is never
/// an ICMP error, so it meets exactly the checks the remembered one passed.
struct PermittedFlowCache {
    /// Both ends of a packet, named by side: the client's tunnel address and the resource's address.
    private struct Flow {
        var clientAddress: IPAddress
        var resourceAddress: IPAddress
        var clientProtocol: TransportProtocol
        var resourceProtocol: TransportProtocol
    }

    private var outbound: Flow?
    private var inbound: Flow?
    /// The NAT's ``NATTable/sessionsOpened`` when `inbound` was found to belong to no session: while no session
    /// has opened since, it still belongs to none.
    private var inboundNATSessionsOpened: UInt64 = 0

    /// Whether `packet`, from the client, belongs to the remembered outbound flow. The fields are read one by one,
    /// the resource's address first, so that another flow's packet costs a read or two.
    func permitsOutbound(_ packet: IPPacket) -> Bool {
        guard let flow = self.outbound else {
            return false
        }
        return packet.destination == flow.resourceAddress
            && (try? packet.destinationProtocol()) == flow.resourceProtocol
            && (try? packet.sourceProtocol()) == flow.clientProtocol
            && packet.source == flow.clientAddress
    }

    /// Whether `packet`, from the resources' side, belongs to the remembered inbound flow, with no NAT session
    /// opened since.
    func permitsInbound(_ packet: IPPacket, natSessionsOpened: UInt64) -> Bool {
        guard let flow = self.inbound, self.inboundNATSessionsOpened == natSessionsOpened else {
            return false
        }
        return packet.source == flow.resourceAddress
            && (try? packet.sourceProtocol()) == flow.resourceProtocol
            && (try? packet.destinationProtocol()) == flow.clientProtocol
            && packet.destination == flow.clientAddress
    }

    /// Remembers the flow of `packet`, a client's packet let through; nothing without a port or echo identifier on
    /// both sides.
    mutating func rememberOutbound(_ packet: IPPacket) {
        guard let source = try? packet.sourceProtocol(), let destination = try? packet.destinationProtocol() else {
            return
        }
        self.outbound = Flow(
            clientAddress: packet.source,
            resourceAddress: packet.destination,
            clientProtocol: source,
            resourceProtocol: destination
        )
    }

    /// Remembers the flow of `packet`, a packet from the resources' side let through untranslated; nothing without a
    /// port or echo identifier on both sides.
    mutating func rememberInbound(_ packet: IPPacket, natSessionsOpened: UInt64) {
        guard let source = try? packet.sourceProtocol(), let destination = try? packet.destinationProtocol() else {
            return
        }
        self.inbound = Flow(
            clientAddress: packet.destination,
            resourceAddress: packet.source,
            clientProtocol: destination,
            resourceProtocol: source
        )
        self.inboundNATSessionsOpened = natSessionsOpened
    }

    mutating func removeAll() {
        self.outbound = nil
        self.inbound = nil
    }
}
