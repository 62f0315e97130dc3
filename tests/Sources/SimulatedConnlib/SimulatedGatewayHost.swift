import ConnlibCore
import FirezoneTesting
import FirezoneTime
import IPPacket
import NIOCore

/// A gateway's ``GatewayState`` on a simulated host with its site behind the TUN device: each packet the gateway
/// writes to the TUN device goes to ``site``, whose answer comes back through the TUN device at once; a packet the
/// site does not answer is kept in ``tun``. What the gateway asks of its shell (portal messages, DNS resolutions)
/// waits for the harness to carry.
public struct SimulatedGatewayHost: SimulatedNode {
    public var state: GatewayState
    /// The socket the process has bound: a restarted process binds a new port.
    public var socket: IPSocketAddress
    /// Added to the simulation's Unix time: the harness moves it past every flow's expiry without running the clock
    /// for a month.
    public var unixSkew = Duration.zero
    /// What reached the TUN device and the site did not answer, since the harness last emptied it.
    public var tun: [IPPacket] = []
    public private(set) var events: [GatewayEvent] = []
    /// The hosts behind the gateway: their answer to a packet the gateway forwarded, or nil.
    private let site: (IPPacket) -> IPPacket?

    public init(state: GatewayState, socket: IPSocketAddress, site: @escaping (IPPacket) -> IPPacket? = { _ in nil }) {
        self.state = state
        self.socket = socket
        self.site = site
    }

    public var hasSignals: Bool {
        !self.events.isEmpty
    }

    public mutating func takeEvents() -> [GatewayEvent] {
        defer { self.events.removeAll() }
        return self.events
    }

    /// Any change the harness makes to the state, with its events collected afterwards.
    public mutating func change<Result>(_ body: (inout GatewayState) -> Result) -> Result {
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
            if let reply = self.site(packet) {
                self.state.handleTUNInput(reply, now: now)
            } else {
                self.tun.append(packet)
            }
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
        self.state.handleTimeout(now: now, unixTime: unixTime + self.unixSkew)
        self.collect()
    }

    private mutating func collect() {
        while let event = self.state.pollEvent() {
            self.events.append(event)
        }
    }
}
