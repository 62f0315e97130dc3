import FirezoneTesting
import FirezoneTime
import ICE
import IPPacket
import NIOCore
import STUN
import SimulatedRelay

/// Checks that a node sends only to addresses it learned legitimately, the property that keeps a node from being
/// turned into a reflector or a scanner by what strangers or a confused portal hand it.
///
/// An address is legitimate for a node once it was
/// - the socket of a relay the portal gave it (``noteRelays(_:)``);
/// - a remote candidate the portal signalled to it, of any connection (``noteSignalled(_:)``), and the optimistic
///   candidates those make possible: a server-reflexive candidate's IP with a host candidate's port (Firezone
///   #10367, ``Node`` guesses them per connection, this audit per node, a superset);
/// - the source of a datagram the node accepted (``Node/decapsulate(_:from:local:now:)`` returned without
///   throwing): a peer-reflexive candidate that passed ICE's checks, the peer's WireGuard endpoint, a relay. From
///   outside the node, "accepted" is the only sign that ICE or WireGuard authenticated the source.
///
/// Every transmit is then checked: one to a relay must go to a relay socket the node was given, and every peer
/// address inside it (XOR-PEER-ADDRESS of CREATE-PERMISSION, CHANNEL-BIND and SEND, the addresses the relay will
/// forward to) must be legitimate; any other transmit must go to a legitimate address. Channel data is not
/// opened: its channel was bound by a CHANNEL-BIND this audit checked. A transmit checked this way can fail only
/// when the node sends to an address nobody gave it: a refused datagram's source, a candidate that did not
/// parse, an address made up or left over from another node's state.
struct AddressAudit {
    private(set) var relays: Set<IPSocketAddress> = []
    private(set) var legitimate: Set<IPSocketAddress> = []
    private var reflexiveIPs: Set<IPAddress> = []
    private var hostPorts: Set<UInt16> = []
    /// Every transmit that broke the rule, described; empty while the node behaves.
    private(set) var violations: [String] = []

    mutating func noteRelays(_ sockets: [IPSocketAddress]) {
        self.relays.formUnion(sockets)
    }

    /// The portal delivered these candidates (SDP) to the node; those that do not parse name no address.
    mutating func noteSignalled(_ candidates: [String]) {
        for sdp in candidates {
            guard let candidate = try? Candidate(parsing: sdp) else {
                continue
            }
            self.legitimate.insert(candidate.address)
            switch candidate.kind {
            case .serverReflexive: self.reflexiveIPs.insert(candidate.address.address)
            case .host: self.hostPorts.insert(candidate.address.port)
            case .peerReflexive, .relayed: break
            }
        }
    }

    mutating func noteAccepted(from source: IPSocketAddress) {
        self.legitimate.insert(source)
    }

    func isLegitimate(_ address: IPSocketAddress) -> Bool {
        self.legitimate.contains(address)
            || (self.reflexiveIPs.contains(address.address) && self.hostPorts.contains(address.port))
    }

    mutating func check(_ transmit: SimulatedTransmit, now: Instant) {
        if transmit.destination.port == RelayNode.listeningPort {
            guard self.relays.contains(transmit.destination) else {
                self.violations.append("\(now): to \(transmit.destination), not a relay of this node")
                return
            }
            let payload = transmit.payload
            guard let first = payload.getInteger(at: payload.readerIndex, as: UInt8.self), first <= 3,
                let message = try? STUNMessage(decoding: payload)
            else {
                return
            }
            for case .xorPeerAddress(let peer) in message.attributes where !self.isLegitimate(peer) {
                self.violations.append(
                    "\(now): \(message.type) to relay \(transmit.destination) names peer \(peer), never learned"
                )
            }
            return
        }
        if !self.isLegitimate(transmit.destination) {
            self.violations.append(
                "\(now): \(transmit.payload.readableBytes) bytes to \(transmit.destination), never learned"
            )
        }
    }
}
