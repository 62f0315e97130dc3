import ConnlibCore
import IPPacket
import PortalMessages

/// A step of a ``TunnelSequence`` with every choice made: the resource as the portal sends it, the packet's
/// destination address. The reference model resolves steps into actions; the system under test performs them.
enum TunnelAction: Hashable, CustomStringConvertible {
    /// `allowed: false` is a revocation: the portal keeps the resource but the client's policies no longer allow it.
    case upsertResource(ClientResource, allowed: Bool)
    case deleteResource(ResourceID)
    case setInternetResourceActive(Bool)
    /// One packet from the client's TUN address of the destination's family.
    case send(destination: IPAddress, TransportProtocol)
    case query(DomainName, ipv6: Bool, tcp: Bool)
    /// A PTR query to the client's DNS sentinel for the reverse name of an address (RFC 1035 §3.5, RFC 3596 §2.5).
    case reverseQuery(IPAddress)
    /// An SRV or TXT query to the client's DNS sentinel over UDP.
    case recordQuery(DomainName, DNSRecordType)
    /// An LLMNR query (RFC 4795) for a name's A records, to 224.0.0.252 port 5355.
    case llmnrQuery(DomainName)
    /// The portal configures ``TunnelWorld/tunnelledDNS`` as the client's `upstream_dns` (`config_changed`), or none.
    case setPortalUpstream(Bool)
    case expireFlows
    /// The portal moves every flow's expiry past the next ``expireFlows`` (`access_authorization_expiry_updated`).
    case extendFlows
    case restartGateway(GatewayID)
    case setGatewayOnline(GatewayID, Bool)
    case restartClient
    case connectionFailure
    case roam
    case idle(Duration)

    var description: String {
        switch self {
        case .upsertResource(let resource, let allowed): "upsert \(resource.id) allowed: \(allowed)"
        case .deleteResource(let id): "delete \(id)"
        case .setInternetResourceActive(let active): "Internet resource active: \(active)"
        case .send(let destination, let transport): "send \(transport) to \(destination)"
        case .query(let name, let ipv6, let tcp): "query \(name) \(ipv6 ? "AAAA" : "A") over \(tcp ? "TCP" : "UDP")"
        case .reverseQuery(let address): "query PTR of \(address)"
        case .recordQuery(let name, let type): "query \(name) \(type)"
        case .llmnrQuery(let name): "LLMNR query \(name)"
        case .setPortalUpstream(let set): "portal upstream DNS: \(set)"
        case .expireFlows: "expire flows"
        case .extendFlows: "extend flows"
        case .restartGateway(let id): "restart \(id)"
        case .setGatewayOnline(let id, let online): "\(id) online: \(online)"
        case .restartClient: "restart client"
        case .connectionFailure: "connection failure"
        case .roam: "roam"
        case .idle(let duration): "idle \(duration)"
        }
    }
}

/// What the client's application sees after an action: the packet written back to its TUN device (an echo from the
/// resource or an ICMP error, by its source address), or a DNS answer.
enum TunnelObservation: Hashable, CustomStringConvertible {
    enum Packet: Hashable {
        /// The resource host's echo of the probe, from the address the probe went to.
        case reply(from: IPAddress)
        /// ICMP destination unreachable, administratively prohibited (ICMPv4 type 3 code 13, RFC 1812 §5.2.7.1;
        /// ICMPv6 type 1 code 1, RFC 4443 §3.1).
        case prohibited(from: IPAddress)
        /// ICMP destination unreachable, network unreachable (ICMPv4 type 3 code 0, RFC 792; ICMPv6 type 1 code 3,
        /// RFC 4443 §3.1, the code Firezone sends).
        case unreachable(from: IPAddress)
    }

    enum Answer: Hashable {
        /// NOERROR with these addresses, in the answer's order (none: an empty answer).
        case addresses([IPAddress])
        /// NOERROR with these PTR names, in the answer's order.
        case names([DomainName])
        /// NOERROR with these SRV or TXT records, as text (`SRV <priority> <weight> <port> <target>`, `TXT <text>`).
        case records([String])
        case nxdomain
        case servfail
    }

    /// Nothing reached the application: a dropped packet, an unanswered query, or an action that is no probe.
    case nothing
    case packet(Packet)
    case answer(Answer)
    /// Something no rule explains (two packets, a packet that is no echo nor ICMP error, an action the system
    /// cannot perform): never expected, so always a mismatch.
    case unexpected(String)

    var description: String {
        switch self {
        case .nothing: "nothing"
        case .packet(.reply(let from)): "reply from \(from)"
        case .packet(.prohibited(let from)): "ICMP prohibited from \(from)"
        case .packet(.unreachable(let from)): "ICMP network unreachable from \(from)"
        case .answer(.addresses(let addresses)): "answer \(addresses)"
        case .answer(.names(let names)): "answer \(names)"
        case .answer(.records(let records)): "answer \(records)"
        case .answer(.nxdomain): "NXDOMAIN"
        case .answer(.servfail): "SERVFAIL"
        case .unexpected(let what): "unexpected: \(what)"
        }
    }
}

extension TunnelObservation {
    /// Observations counted by kind.
    struct Tally: CustomStringConvertible {
        var nothing = 0
        var replies = 0
        var prohibited = 0
        var unreachable = 0
        var addresses = 0
        var names = 0
        var records = 0
        var nxdomain = 0
        var servfail = 0

        mutating func count(_ observation: TunnelObservation) {
            switch observation {
            case .nothing: self.nothing += 1
            case .packet(.reply): self.replies += 1
            case .packet(.prohibited): self.prohibited += 1
            case .packet(.unreachable): self.unreachable += 1
            case .answer(.addresses): self.addresses += 1
            case .answer(.names): self.names += 1
            case .answer(.records): self.records += 1
            case .answer(.nxdomain): self.nxdomain += 1
            case .answer(.servfail): self.servfail += 1
            case .unexpected: break
            }
        }

        mutating func add(_ other: Tally) {
            self.nothing += other.nothing
            self.replies += other.replies
            self.prohibited += other.prohibited
            self.unreachable += other.unreachable
            self.addresses += other.addresses
            self.names += other.names
            self.records += other.records
            self.nxdomain += other.nxdomain
            self.servfail += other.servfail
        }

        var description: String {
            "\(self.replies) echoes, \(self.prohibited) ICMP prohibited, \(self.unreachable) ICMP network unreachable, "
                + "\(self.addresses) DNS answers with addresses, \(self.names) with names, \(self.records) with SRV or TXT, \(self.nxdomain) NXDOMAIN, \(self.servfail) SERVFAIL, "
                + "\(self.nothing) steps with nothing to see"
        }
    }
}
