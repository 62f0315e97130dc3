import ConnlibCore
import FirezoneCrypto
import FirezoneTime
import Glibc
import IPPacket
import LinuxIO
import Logging
import NIOCore
import PhoenixCore
import PortalMessages
import Snownet
import WireGuard

/// The gateway's data plane: ``GatewayState`` on the tunnel's UDP sockets, the TUN device and the portal, driven
/// by one thread on an ``EventLoopDriver`` (Firezone's rust/gateway/src/eventloop.rs and rust/connlib/tunnel/src/io.rs).
///
/// Each turn takes one batch from every ready source (Firezone #10347): datagrams go to
/// ``GatewayState/handleNetworkInput(_:from:local:now:)`` and the packets it returns to the TUN device; packets
/// read from the TUN device go to ``GatewayState/handleTUNInput(_:now:)``; portal events, which the
/// ``PortalBridge`` carries across from SwiftNIO, go to ``GatewayState/handlePortalEvent(_:now:)``; answers of
/// the ``DomainResolver`` to ``GatewayState/handleDomainResolved(_:addresses:now:)``. After every input the state's
/// datagrams are queued with the driver, which sends each socket's batch with one sendmmsg(2) at the end of the
/// batch, and its events are acted on. An input the state refuses is counted there and never ends the batch: the
/// state's inputs return no errors. The driver's thread is the only one that reads or writes the TUN device
/// (Firezone #10231: one TUN thread, no reordering).
///
/// On the data path a datagram is opened, and a TUN packet sealed, in the driver's own storage, and written or sent
/// from there (``TunnelIO``): no copy and no allocation per packet.
///
/// Metrics and queue depths are sampled once a second (Firezone #10242). ``run(until:)`` ends with
/// ``closeTunnel()``: a goodbye to every client, flushed before it returns (Firezone #10401).
public final class GatewayEventLoop: BlockingEventLoop {
    private enum Token: UInt64 {
        case tun = 1
        case udp4
        case udp6
        case portal
    }

    /// Tokens of the resolver's sockets start here, above the fixed sources.
    static let resolverTokenBase: UInt64 = 1 << 32
    public static let metricsInterval = Duration.seconds(1)

    public static let dropReasons =
        GatewayDropReason.allCases.map(\.description) + [
            "datagram_refused", "send_failed", "tun_write_failed", "unsegmentable_packet", "truncated_datagram",
            "no_socket",
        ]
    public static let queues = ["portal_inbound", "dns_lookups"]

    private var state: GatewayState
    private let driver: EventLoopDriver
    private let tun: Int32
    private let portal: PortalBridge<GatewayTopic>
    private let resolver: DomainResolver
    private let metrics: TunnelMetrics?
    private let configureInterface: (GatewayInterface) -> Void
    private let logger: Logger
    private var traffic = TunnelMetrics.Traffic()
    private var nextMetrics: Instant
    public let io: TunnelIO

    /// Takes over `sockets` and the offload TUN device `tun` (``TunnelDevice`` opens it; closed by the caller after
    /// ``run(until:)``). `configureInterface` applies the portal's interface addresses to the TUN device.
    public init(
        secret: StaticSecret,
        sockets: TunnelSockets,
        tun: Int32,
        portal: PortalBridge<GatewayTopic>,
        nameservers: [IPSocketAddress],
        metrics: TunnelMetrics?,
        configureInterface: @escaping (GatewayInterface) -> Void,
        logger: Logger
    ) throws(SystemCallError) {
        let driver = try EventLoopDriver()
        let now = driver.clock.now()
        self.state = GatewayState(
            secret: secret,
            seed: Self.randomSeed(),
            logger: logger,
            now: now,
            unixTime: driver.clock.unixTime()
        )
        self.driver = driver
        self.tun = tun
        self.portal = portal
        self.resolver = DomainResolver(
            nameservers: nameservers,
            driver: driver,
            tokenBase: Self.resolverTokenBase,
            logger: logger
        )
        self.metrics = metrics
        self.configureInterface = configureInterface
        self.logger = logger
        self.nextMetrics = now
        self.io = TunnelIO(driver: driver, sockets: sockets)
        try self.io.register(
            tun: tun,
            tunToken: Token.tun.rawValue,
            udp4Token: Token.udp4.rawValue,
            udp6Token: Token.udp6.rawValue
        )
        try driver.register(readable: portal.wakeupDescriptor, token: Token.portal.rawValue)
    }

    /// Firezone #10400/#10401: every client gets a goodbye, so that it does not wait for its ICE timeout; what is
    /// left is sent before this returns.
    public func closeTunnel() {
        let now = self.driver.clock.now()
        self.state.close(now: now)
        self.drainState(now: now)
        self.io.flush()
        self.publishMetrics()
        self.logger.info("Gateway closed its connections", metadata: ["clients": "\(self.state.clientIDs.count)"])
    }

    // MARK: Inputs

    /// The datagram in the driver's slot is opened there and its packet written to the TUN device from there.
    private func handleDatagram(_ datagram: inout ByteBuffer, received: fz_datagram, socket: Token, now: Instant) {
        let source = received.socketAddress
        let local = self.io.localAddress(ofDatagramFrom: source, onIPv6: socket == .udp6)
        if let packet = self.state.handleNetworkInput(&datagram, from: source, local: local, now: now),
            self.io.queueTUNWrite(openedIn: packet, storage: received.bytes!)
        {
            self.traffic.packetsOut += 1
            self.traffic.bytesOut += UInt64(packet.length)
        }
        self.drainState(now: now)
    }

    /// The packet in the driver's TUN region is sealed there and leaves from there.
    private func handleTUNPacket(_ packet: inout ByteBuffer, storage: UnsafeMutablePointer<UInt8>, now: Instant) {
        self.traffic.packetsIn += 1
        self.traffic.bytesIn += UInt64(packet.readableBytes)
        let destination = self.state.handleTUNInput(&packet, now: now)
        self.drainState(now: now)
        if let destination {
            self.io.queueSend(sealedIn: packet, storage: storage, to: destination)
        }
    }

    private func handlePortal(now: Instant) {
        self.portal.drain { event in
            switch event {
            case .message(let message):
                self.state.handlePortalEvent(message, now: now)
            case .joined:
                self.logger.info("Joined the portal")
            case .disconnected(let reason, let retryIn):
                self.logger.warning(
                    "Portal connection lost",
                    metadata: ["reason": "\(reason)", "retry.in": "\(retryIn)"]
                )
            case .failed(let failure):
                self.logger.error("Portal failed", metadata: ["reason": "\(failure)"])
            case .unknownEvent(let name):
                self.logger.debug("Unknown portal event", metadata: ["event": "\(name)"])
            case .malformedMessage(let error):
                self.logger.warning("Malformed portal message", metadata: ["error": "\(error)"])
            case .errorReply(let reason):
                self.logger.warning("The portal refused a message", metadata: ["reason": "\(reason)"])
            case .channelError:
                self.logger.warning("The portal's channel failed")
            case .outboundMessageDropped(let name):
                self.logger.warning("Portal message dropped while disconnected", metadata: ["event": "\(name)"])
            }
            self.drainState(now: now)
        }
    }

    private func deliver(_ completion: DomainResolver.Completion, now: Instant) {
        self.state.handleDomainResolved(completion.request, addresses: completion.addresses, now: now)
        self.drainState(now: now)
    }

    // MARK: Outputs

    /// Queues the state's datagrams and acts on its events.
    private func drainState(now: Instant) {
        while let transmit = self.state.pollTransmit() {
            self.io.queueSend(transmit)
        }
        while let event = self.state.pollEvent() {
            switch event {
            case .portal(let message):
                self.portal.send(message)
            case .resolveDNS(let request):
                if let completion = self.resolver.start(request, now: now) {
                    self.state.handleDomainResolved(completion.request, addresses: completion.addresses, now: now)
                }
            case .tunInterfaceUpdated(let interface):
                self.configureInterface(interface)
            case .noRelays:
                // Firezone 685acdac3a's portal sends relays only in `init` and `relays_presence`; when the last
                // one is gone, a new connection's `init` brings the current ones (rust/gateway/src/eventloop.rs).
                self.logger.warning("No usable relay left; reconnecting to the portal")
                self.portal.reconnect()
            }
            while let transmit = self.state.pollTransmit() {
                self.io.queueSend(transmit)
            }
        }
    }

    // MARK: Metrics

    private func publishMetrics() {
        guard let metrics = self.metrics else {
            return
        }
        var snapshot = TunnelMetrics.Snapshot()
        snapshot.traffic = self.traffic
        for client in self.state.connectedClientIDs {
            snapshot.countConnection(self.state.connectionPath(of: client))
        }
        let counters = self.driver.counters
        let nodeStats = self.state.nodeStats
        snapshot.drops =
            GatewayDropReason.allCases.map { self.state.stats[$0] } + [
                nodeStats.datagramsFromUnknownRelays + nodeStats.unexpectedRelayMessages + nodeStats.invalidChannelData
                    + nodeStats.unroutedSTUN + nodeStats.wireGuardRejections,
                counters.datagramsNotSent, counters.tunWriteFailures,
                counters.unsegmentablePackets, counters.truncatedDatagrams, self.io.datagramsWithoutSocket,
            ]
        let portalStats = self.portal.stats
        snapshot.portalJoined = portalStats.isJoined
        snapshot.queueDepths = [portalStats.inboundDepth, self.resolver.pendingCount]
        metrics.publish(snapshot)
    }
}

extension GatewayEventLoop: EventLoopHandler {
    public func nextDeadline() -> Instant? {
        var deadline = self.nextMetrics
        if let state = self.state.pollTimeout()?.deadline, state < deadline {
            deadline = state
        }
        if let resolver = self.resolver.nextDeadline(), resolver < deadline {
            deadline = resolver
        }
        return deadline
    }

    public func handleTimeout(now: Instant) {
        if let deadline = self.state.pollTimeout()?.deadline, deadline <= now {
            self.state.handleTimeout(now: now, unixTime: self.driver.clock.unixTime())
            self.drainState(now: now)
        }
        for completion in self.resolver.expire(now: now) {
            self.deliver(completion, now: now)
        }
        if now >= self.nextMetrics {
            self.nextMetrics = now + Self.metricsInterval
            self.publishMetrics()
        }
        // The driver sends what a timeout queued right after this returns; the storage must outlive that.
        self.io.flush()
    }

    public func handleDatagram(_ datagram: inout ByteBuffer, received: fz_datagram, source: UInt64, now: Instant) {
        self.handleDatagram(
            &datagram,
            received: received,
            socket: source == Token.udp6.rawValue ? .udp6 : .udp4,
            now: now
        )
    }

    public func handleTUNPacket(
        _ packet: inout ByteBuffer,
        storage: UnsafeMutablePointer<UInt8>,
        source: UInt64,
        now: Instant
    ) {
        self.handleTUNPacket(&packet, storage: storage, now: now)
    }

    public func handleReadable(source: UInt64, now: Instant) {
        if source == Token.portal.rawValue {
            self.handlePortal(now: now)
        } else if self.resolver.owns(token: source),
            let completion = self.resolver.handleReadable(token: source, now: now)
        {
            self.deliver(completion, now: now)
        }
        // The driver flushes after this returns; flushing here lets the storage go at once.
        self.io.flush()
    }

    public func didFinishBatch(source: UInt64, now: Instant) {
        self.io.batchFlushed()
    }
}
