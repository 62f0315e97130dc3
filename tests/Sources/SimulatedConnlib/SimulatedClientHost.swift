import ConnlibCore
import FirezoneTesting
import FirezoneTime
import IPPacket
import NIOCore
import PortalMessages

/// The client's ``ClientState`` on a simulated host, driven as connlib's event loop drives it: datagrams to its one
/// UDP socket go to the state, what the state writes to its TUN device is kept for the harness, and what it asks of
/// the shell outside the network (portal messages, recursive DNS queries, events) waits for the harness to carry.
public struct SimulatedClientHost: SimulatedNode {
    public var state: ClientState
    /// The socket the process has bound; datagrams to any other port of the host find no socket.
    public var socket: IPSocketAddress
    /// What reached the TUN device since the harness last emptied it.
    public var tun: [IPPacket] = []
    public private(set) var portalMessages: [ClientOutbound] = []
    public private(set) var dnsQueries: [RecursiveDNSQuery] = []
    public private(set) var events: [ClientEvent] = []

    public init(state: ClientState, socket: IPSocketAddress) {
        self.state = state
        self.socket = socket
    }

    /// Whether the harness has something to carry.
    public var hasSignals: Bool {
        !self.portalMessages.isEmpty || !self.dnsQueries.isEmpty || !self.events.isEmpty
    }

    public mutating func takeSignals() -> (portal: [ClientOutbound], dns: [RecursiveDNSQuery], events: [ClientEvent]) {
        defer {
            self.portalMessages.removeAll()
            self.dnsQueries.removeAll()
            self.events.removeAll()
        }
        return (self.portalMessages, self.dnsQueries, self.events)
    }

    /// Any change the harness makes to the state, with its output collected afterwards.
    public mutating func change<Result>(_ body: (inout ClientState) -> Result) -> Result {
        defer { self.collect() }
        return body(&self.state)
    }

    public mutating func handleDatagram(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        guard destination == self.socket else {
            return
        }
        var datagram = datagram
        if let packet = self.state.handleNetworkInput(&datagram, from: source, local: destination, now: now) {
            self.tun.append(packet)
        }
        self.collect()
    }

    public mutating func pollTransmit(now: Instant) -> SimulatedTransmit? {
        self.state.pollTransmit().map { SimulatedTransmit($0, socket: self.socket) }
    }

    public func pollTimeout() -> Instant? {
        self.state.pollTimeout()?.deadline
    }

    public mutating func handleTimeout(now: Instant, unixTime: Duration) {
        self.state.handleTimeout(now: now)
        self.collect()
    }

    private mutating func collect() {
        while let packet = self.state.pollTunWrite() {
            self.tun.append(packet)
        }
        while let message = self.state.pollPortalMessage() {
            self.portalMessages.append(message)
        }
        while let query = self.state.pollDNSQuery() {
            self.dnsQueries.append(query)
        }
        while let event = self.state.pollEvent() {
            self.events.append(event)
        }
    }
}
