import IPPacket
import NIOCore
import PortalMessages

/// A peer-to-peer control event, carried inside WireGuard in an ``FZP2PControl`` packet (Firezone's connlib,
/// rust/connlib/tunnel/src/p2p_control.rs). The events are unreliable and idempotent: the client repeats
/// `assignedIPs` until it hears a `domainStatus`.
public enum P2PControlMessage: Hashable, Sendable {
    /// Whether the gateway set up NAT for a domain's proxy addresses.
    public enum DomainStatus: Hashable, Sendable {
        case active
        case inactive
    }

    /// Client → gateway: the proxy addresses the client's DNS stub gave `domain` of DNS resource `resource`; the
    /// gateway resolves the domain and maps each proxy address to a real one. Four (IPv4) or eight (IPv4 and IPv6)
    /// addresses.
    case assignedIPs(resource: ResourceID, domain: String, proxyIPs: [IPAddress])
    /// Gateway → client: the answer to `assignedIPs`.
    case domainStatus(resource: ResourceID, domain: String, status: DomainStatus)
    /// Either side: the connection is being closed; the receiver removes it at once (#10076).
    case goodbye

    /// The numbers of proxy addresses an `assignedIPs` may carry: the client assigns four per IP family its
    /// resource supports.
    public static let proxyIPsPerFamily = 4

    /// Reads the event of a Firezone peer-to-peer control packet.
    public init(parsing packet: IPPacket) throws(P2PControlMessageError) {
        guard let control = packet.fzP2PControl else {
            throw .notAControlPacket
        }
        let body = String(buffer: control.body)
        switch control.eventType {
        case .assignedIPs:
            let wire = try Self.decode(AssignedIPsBody.self, from: body, event: control.eventType)
            var proxyIPs: [IPAddress] = []
            proxyIPs.reserveCapacity(wire.proxyIPs.count)
            for text in wire.proxyIPs {
                guard let address = IPAddress(text) else {
                    throw .malformedBody(event: control.eventType.rawValue, detail: "a proxy IP is not an address")
                }
                proxyIPs.append(address)
            }
            guard proxyIPs.count == Self.proxyIPsPerFamily || proxyIPs.count == 2 * Self.proxyIPsPerFamily else {
                throw .malformedBody(event: control.eventType.rawValue, detail: "not 4 or 8 proxy IPs")
            }
            self = .assignedIPs(resource: wire.resource, domain: wire.domain, proxyIPs: proxyIPs)
        case .domainStatus:
            let wire = try Self.decode(DomainStatusBody.self, from: body, event: control.eventType)
            // connlib reads any status but "Active" as inactive, so that a newer peer's statuses stay readable.
            let status: DomainStatus = wire.status == DomainStatusBody.active ? .active : .inactive
            self = .domainStatus(resource: wire.resource, domain: wire.domain, status: status)
        case .goodbye:
            self = .goodbye
        default:
            throw .unknownEvent(control.eventType.rawValue)
        }
    }

    /// The control packet carrying this event. Throws only if the body does not fit in one packet (a domain
    /// of thousands of characters, which DNS forbids).
    public func makePacket(allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(IPPacketError) -> IPPacket {
        let eventType: FZP2PControl.EventType
        let json: String
        switch self {
        case .assignedIPs(let resource, let domain, let proxyIPs):
            eventType = .assignedIPs
            json = PortalCodec.encodeJSON(
                AssignedIPsBody(resource: resource, domain: domain, proxyIPs: proxyIPs.map(\.description))
            )
        case .domainStatus(let resource, let domain, let status):
            eventType = .domainStatus
            json = PortalCodec.encodeJSON(
                DomainStatusBody(
                    resource: resource,
                    domain: domain,
                    status: status == .active ? DomainStatusBody.active : DomainStatusBody.inactive
                )
            )
        case .goodbye:
            eventType = .goodbye
            json = ""
        }
        var body = allocator.buffer(capacity: json.utf8.count)
        body.writeString(json)
        return try IPPacket.makeFZP2PControl(eventType: eventType, body: body, allocator: allocator)
    }

    private static func decode<Body: Decodable>(
        _ type: Body.Type,
        from text: String,
        event: FZP2PControl.EventType
    ) throws(P2PControlMessageError) -> Body {
        do {
            return try PortalCodec.decodeJSON(Body.self, from: text)
        } catch {
            throw .malformedBody(event: event.rawValue, detail: error.detail)
        }
    }
}

/// Why a peer's control packet could not be read; the packet is dropped.
public enum P2PControlMessageError: Error, Hashable, Sendable {
    /// Not IPv6 `::` → `::` with next header 0xFF and a full 8-byte header.
    case notAControlPacket
    case unknownEvent(UInt8)
    case malformedBody(event: UInt8, detail: String)
}

// The JSON bodies of connlib's `AssignedIps` and `DomainStatus` (rust/connlib/tunnel/src/p2p_control.rs).

private struct AssignedIPsBody: Codable {
    var resource: ResourceID
    var domain: String
    var proxyIPs: [String]

    private enum CodingKeys: String, CodingKey {
        case resource, domain
        case proxyIPs = "proxy_ips"
    }
}

private struct DomainStatusBody: Codable {
    static let active = "Active"
    static let inactive = "Inactive"

    var resource: ResourceID
    var domain: String
    var status: String
}
