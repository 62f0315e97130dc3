import ConnlibCore
import FirezoneTesting
import FirezoneTime
import IPPacket
import NIOCore

/// A gateway's ``GatewayState`` on a simulated host with its site's resource host behind the TUN device: every
/// packet the gateway writes to the TUN device is echoed back at once (``SimulatedTunnel/echo(_:)``), except DNS
/// to the gateway's own port 53535, which its site's resolver answers, and DNS to ``TunnelWorld/tunnelledDNS``, which
/// the resolver there answers; what the
/// gateway asks of its shell (portal messages, DNS resolutions) waits for the harness to carry.
struct SimulatedGatewayHost: SimulatedNode {
    var state: GatewayState
    /// The socket the process has bound: a restarted process binds a new port.
    var socket: IPSocketAddress
    /// Added to the simulation's Unix time: the harness moves it past every flow's expiry without running the clock
    /// for a month.
    var unixSkew = Duration.zero
    private(set) var events: [GatewayEvent] = []

    /// Which of ``TunnelWorld/gateways`` it is.
    let index: Int

    init(index: Int, state: GatewayState, socket: IPSocketAddress) {
        self.index = index
        self.state = state
        self.socket = socket
    }

    var hasSignals: Bool {
        !self.events.isEmpty
    }

    mutating func takeEvents() -> [GatewayEvent] {
        defer { self.events.removeAll() }
        return self.events
    }

    /// Any change the harness makes to the state, with its events collected afterwards.
    mutating func change<Result>(_ body: (inout GatewayState) -> Result) -> Result {
        defer { self.collect() }
        return body(&self.state)
    }

    mutating func handleDatagram(
        _ datagram: ByteBuffer,
        from source: IPSocketAddress,
        to destination: IPSocketAddress,
        now: Instant
    ) {
        guard destination == self.socket else {
            return
        }
        var datagram = datagram
        if let packet = self.state.handleNetworkInput(&datagram, from: source, local: destination, now: now),
            let reply = SimulatedTunnel.siteDNSAnswer(to: packet, gateway: self.index)
                ?? SimulatedTunnel.resolverAnswer(to: packet) ?? SimulatedTunnel.echo(packet)
        {
            self.state.handleTUNInput(reply, now: now)
        }
        self.collect()
    }

    mutating func pollTransmit(now: Instant) -> SimulatedTransmit? {
        guard let transmit = self.state.pollTransmit() else {
            return nil
        }
        return SimulatedTransmit(
            source: transmit.source ?? self.socket,
            destination: transmit.destination,
            payload: transmit.payload
        )
    }

    func pollTimeout() -> Instant? {
        self.state.pollTimeout()?.deadline
    }

    mutating func handleTimeout(now: Instant, unixTime: Duration) {
        self.state.handleTimeout(now: now, unixTime: unixTime + self.unixSkew)
        self.collect()
    }

    private mutating func collect() {
        while let event = self.state.pollEvent() {
            self.events.append(event)
        }
    }
}
