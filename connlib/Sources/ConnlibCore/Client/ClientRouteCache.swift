import IPPacket
import PortalMessages

/// The client's last routing decision each way, so that the packets of one flow after the first skip the lookups
/// that made it: the routing table, the resource's gateway and its connection state, the DNS-resource NAT's
/// records (each a hash of a string ID or an address per packet), as wireguard-peer pays one table lookup per
/// packet and nothing more.
///
/// - Outbound: a TUN packet to `destination` with destination port `transport` went to `gateway` (permitted by the
///   route's filters, its flow established, no proxy address).
/// - Inbound: a packet from `source` with source port `transport` that `gateway` sent was allowed (it came from an
///   address of a resource routed through that gateway).
///
/// Either answer holds only while nothing it was made of changes: ``ClientState`` calls ``invalidate()`` on every
/// change of its resources, routes, gateways, flows, proxy records and interface. An entry is one comparison of its
/// key; a different key is a miss, decided the long way, which then becomes the entry.
struct ClientRouteCache {
    private struct Outbound {
        var destination: IPAddress
        var transport: TransportProtocol?
        var gateway: GatewayID
    }

    private struct Inbound {
        var gateway: GatewayID
        var source: IPAddress
        var transport: TransportProtocol?
    }

    private var outbound: Outbound?
    private var inbound: Inbound?

    /// The gateway the last packet to this destination and port went through, if that still holds.
    func gateway(to destination: IPAddress, transport: TransportProtocol?) -> GatewayID? {
        guard let outbound = self.outbound, outbound.destination == destination, outbound.transport == transport else {
            return nil
        }
        return outbound.gateway
    }

    mutating func rememberOutbound(to destination: IPAddress, transport: TransportProtocol?, via gateway: GatewayID) {
        self.outbound = Outbound(destination: destination, transport: transport, gateway: gateway)
    }

    /// Whether a packet from this source and port was allowed from `gateway` last time, if that still holds.
    func allowsInbound(from source: IPAddress, transport: TransportProtocol?, gateway: GatewayID) -> Bool {
        guard let inbound = self.inbound else {
            return false
        }
        return inbound.source == source && inbound.transport == transport && inbound.gateway == gateway
    }

    mutating func rememberInbound(from source: IPAddress, transport: TransportProtocol?, gateway: GatewayID) {
        self.inbound = Inbound(gateway: gateway, source: source, transport: transport)
    }

    /// Forgets both decisions: something they were made of changed.
    mutating func invalidate() {
        self.outbound = nil
        self.inbound = nil
    }
}
