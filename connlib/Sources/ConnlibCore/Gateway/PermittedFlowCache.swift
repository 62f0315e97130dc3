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
    struct Flow: Equatable {
        var clientAddress: IPAddress
        var resourceAddress: IPAddress
        var clientProtocol: TransportProtocol
        var resourceProtocol: TransportProtocol

        /// A client's packet to a resource; nil without a port or echo identifier on both sides.
        static func outbound(_ packet: IPPacket) -> Flow? {
            guard let source = try? packet.sourceProtocol(), let destination = try? packet.destinationProtocol() else {
                return nil
            }
            return Flow(
                clientAddress: packet.source,
                resourceAddress: packet.destination,
                clientProtocol: source,
                resourceProtocol: destination
            )
        }

        /// A resource's packet to the client; nil without a port or echo identifier on both sides.
        static func inbound(_ packet: IPPacket) -> Flow? {
            guard let source = try? packet.sourceProtocol(), let destination = try? packet.destinationProtocol() else {
                return nil
            }
            return Flow(
                clientAddress: packet.destination,
                resourceAddress: packet.source,
                clientProtocol: destination,
                resourceProtocol: source
            )
        }
    }

    private var outbound: Flow?
    private var inbound: Flow?
    /// The NAT's ``NATTable/sessionsOpened`` when `inbound` was found to belong to no session: while no session
    /// has opened since, it still belongs to none.
    private var inboundNATSessionsOpened: UInt64 = 0

    func permitsOutbound(_ flow: Flow) -> Bool {
        self.outbound == flow
    }

    func permitsInbound(_ flow: Flow, natSessionsOpened: UInt64) -> Bool {
        self.inbound == flow && self.inboundNATSessionsOpened == natSessionsOpened
    }

    mutating func rememberOutbound(_ flow: Flow) {
        self.outbound = flow
    }

    mutating func rememberInbound(_ flow: Flow, natSessionsOpened: UInt64) {
        self.inbound = flow
        self.inboundNATSessionsOpened = natSessionsOpened
    }

    mutating func removeAll() {
        self.outbound = nil
        self.inbound = nil
    }
}
