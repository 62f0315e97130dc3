import DequeModule
import FirezoneTime
import IPPacket
import PortalMessages
import Snownet

/// The client's half of the DNS-resource NAT (Firezone's rust/connlib/tunnel/src/client/dns_resource_nat.rs).
///
/// The client hands out proxy addresses for the names of DNS resources; only the gateway can resolve a name to the
/// resource's real addresses. So before the first packet to a proxy address goes through the tunnel, the client
/// tells the gateway which proxy addresses stand for which name (`AssignedIps`), and holds the packets until the
/// gateway says it mapped them (`DomainStatus`). One entry per gateway, name and resource:
///
/// - pending: `AssignedIps` sent, repeated at most every 2 s while packets or updates keep coming; packets are
///   buffered unless the entry is being re-created after it worked;
/// - confirmed: the gateway maps the name; packets pass;
/// - failed: the gateway could not resolve the name; packets pass (the gateway answers them with ICMP);
/// - recreating: a new DNS answer for the name asks the gateway to resolve it again. After a confirmed entry packets
///   keep flowing meanwhile; after a failed one they are buffered, since the old mapping never worked.
public struct ClientDNSResourceNAT: Sendable {
    private var natStates: [Key: State] = [:]
    /// Packets dropped because a buffer was full.
    public private(set) var droppedPackets = 0

    public struct Key: Hashable, Comparable, Sendable {
        public var gateway: GatewayID
        public var domain: DomainName
        public var resource: ResourceID

        public init(gateway: GatewayID, domain: DomainName, resource: ResourceID) {
            self.gateway = gateway
            self.domain = domain
            self.resource = resource
        }

        public static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.gateway, lhs.domain, lhs.resource) < (rhs.gateway, rhs.domain, rhs.resource)
        }
    }

    private enum State: Sendable {
        /// `AssignedIps` sent at `sentAt`, no `DomainStatus` yet.
        case pending(Pending)
        /// The gateway mapped the name.
        case confirmed
        /// The gateway answered inactive.
        case failed
        /// A new DNS answer asks for a new mapping; `shouldBuffer` after a failure.
        case recreating(shouldBuffer: Bool)
    }

    private struct Pending: Sendable {
        var sentAt: Instant
        var buffer: Deque<IPPacket>
        /// False while re-creating a confirmed entry: its old mapping still carries the traffic.
        var buffers: Bool
    }

    /// The outcome of an outgoing packet for a DNS resource.
    public struct Outgoing: Sendable {
        /// The packet to send now, or nil if it was buffered (or dropped with a full buffer).
        public var packet: IPPacket?
        /// An `AssignedIps` to send to the gateway first, if one is due.
        public var control: P2PControlMessage?
    }

    public init() {}

    /// Makes sure the gateway knows `proxyIPs` stand for `domain` of `resource`: returns the `AssignedIps` to send
    /// when the entry is new, is being re-created, or is pending and the last one went out at least 2 s ago.
    public mutating func update(
        gateway: GatewayID,
        domain: DomainName,
        resource: ResourceID,
        proxyIPs: [IPAddress],
        now: Instant
    ) -> P2PControlMessage? {
        let key = Key(gateway: gateway, domain: domain, resource: resource)
        let assignedIPs = P2PControlMessage.assignedIPs(
            resource: resource,
            domain: domain.description,
            proxyIPs: proxyIPs
        )
        switch self.natStates[key] {
        case nil:
            self.natStates[key] = .pending(Pending(sentAt: now, buffer: [], buffers: true))
            return assignedIPs
        case .confirmed, .failed:
            return nil
        case .recreating(let shouldBuffer):
            self.natStates[key] = .pending(Pending(sentAt: now, buffer: [], buffers: shouldBuffer))
            return assignedIPs
        case .pending(var pending):
            guard now >= pending.sentAt + DNSConstants.assignedIPsRetransmitInterval else {
                return nil
            }
            pending.sentAt = now
            self.natStates[key] = .pending(pending)
            return assignedIPs
        }
    }

    /// A packet to one of `domain`'s proxy addresses, routed to `gateway`: updates the entry as `update` does, then
    /// buffers the packet while the first mapping is pending and passes it on otherwise.
    public mutating func handleOutgoing(
        _ packet: IPPacket,
        gateway: GatewayID,
        domain: DomainName,
        resource: ResourceID,
        proxyIPs: [IPAddress],
        now: Instant
    ) -> Outgoing {
        let control = self.update(gateway: gateway, domain: domain, resource: resource, proxyIPs: proxyIPs, now: now)
        let key = Key(gateway: gateway, domain: domain, resource: resource)
        guard case .pending(var pending) = self.natStates[key], pending.buffers else {
            return Outgoing(packet: packet, control: control)
        }
        // Applications retransmit while they wait (a TCP SYN every second or so): one copy is enough. A copy of its
        // own: the caller's buffer may be a receive buffer it reuses once this returns.
        if !pending.buffer.contains(packet) {
            if pending.buffer.count == DNSConstants.natBufferCapacity {
                pending.buffer.removeFirst()
                self.droppedPackets += 1
            }
            pending.buffer.append(packet.copy(headroom: NodeConstants.headroom, tailroom: NodeConstants.tailroom))
        }
        self.natStates[key] = .pending(pending)
        return Outgoing(packet: nil, control: control)
    }

    /// The gateway's answer: active confirms the entry and returns its buffered packets, in order, to send now;
    /// anything else fails it. An answer without an entry (already cleared) is ignored.
    public mutating func handleDomainStatus(
        gateway: GatewayID,
        resource: ResourceID,
        domain: DomainName,
        status: P2PControlMessage.DomainStatus
    ) -> [IPPacket] {
        let key = Key(gateway: gateway, domain: domain, resource: resource)
        guard let state = self.natStates[key] else {
            return []
        }
        switch status {
        case .inactive:
            self.natStates[key] = .failed
            return []
        case .active:
            self.natStates[key] = .confirmed
            switch state {
            case .pending(let pending):
                return Array(pending.buffer)
            case .confirmed, .failed, .recreating:
                return []
            }
        }
    }

    /// A new DNS answer for `domain`: every confirmed or failed entry of it asks its gateway again on the next
    /// update, so that the gateway resolves the name anew (rust/connlib/tunnel/src/client/dns_resource_nat.rs,
    /// `recreate`).
    public mutating func recreate(domain: DomainName) {
        for key in self.natStates.keys.sorted() where key.domain == domain {
            switch self.natStates[key] {
            case .confirmed:
                self.natStates[key] = .recreating(shouldBuffer: false)
            case .failed:
                self.natStates[key] = .recreating(shouldBuffer: true)
            case .pending, .recreating, nil:
                break
            }
        }
    }

    /// Forgets every entry of `gateway`, buffered packets included: its connection closed or failed.
    public mutating func clear(gateway: GatewayID) {
        for key in self.natStates.keys.sorted() where key.gateway == gateway {
            self.natStates[key] = nil
        }
    }

    /// Forgets every entry of `domain`.
    public mutating func clear(domain: DomainName) {
        for key in self.natStates.keys.sorted() where key.domain == domain {
            self.natStates[key] = nil
        }
    }

    public mutating func clear() {
        self.natStates.removeAll()
    }

    /// Whether packets for the entry are being buffered.
    public func isBuffering(_ key: Key) -> Bool {
        guard case .pending(let pending) = self.natStates[key] else {
            return false
        }
        return pending.buffers
    }

    /// The number of packets buffered for the entry.
    public func bufferedPackets(_ key: Key) -> Int {
        guard case .pending(let pending) = self.natStates[key] else {
            return 0
        }
        return pending.buffer.count
    }
}
