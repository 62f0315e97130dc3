import Connlib
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

/// The client's data plane: ``ClientState`` on the tunnel's UDP sockets, the TUN device, the portal and the host's
/// resolvers, driven by one thread on an ``EventLoopDriver`` (Firezone's rust/headless-client/src/main.rs and
/// rust/connlib/tunnel/src/io.rs); the client's counterpart of ``GatewayEventLoop``.
///
/// Each turn takes one batch from every ready source (Firezone #10347): datagrams go to
/// ``ClientState/handleNetworkInput(_:from:local:now:)`` and the packets it returns to the TUN device; packets read
/// from the TUN device go to ``ClientState/handleTunInput(_:now:)``; portal events (the ``PortalBridge`` carries
/// them across from SwiftNIO) to ``ClientState/handlePortalEvent(_:now:)``; the stub's recursive queries to the
/// ``UpstreamDNSClient`` and its outcomes back to ``ClientState/handleDNSResponse(_:result:now:)``. After every
/// input the state's output is drained: datagrams queued with the driver (one sendmmsg(2) per socket at the end of
/// the batch), packets for the TUN device, portal messages, DNS queries, and events (the TUN configuration goes to
/// `configureTunnel`, only the latest, Firezone #10223; the resource list to the status file).
///
/// A ``ResetRequest`` (SIGHUP) or the ``NetworkChangeMonitor`` resets the state (roaming) with a new WireGuard key,
/// and the portal connection signs in again with it; a network change also calls `networkChanged`, which refreshes
/// the mirrored link-scope routes and returns the system's resolvers when they changed (a new network brings its
/// own). On the data path a datagram is opened, and a TUN packet sealed, in the driver's own storage, and written or
/// sent from there (``TunnelIO``): no copy and no allocation per packet. ``run(until:)`` ends with
/// ``closeTunnel()``: ``ClientState/shutDown(now:)`` says goodbye to every gateway, and the loop keeps running until
/// the state reports ``ClientState/isShutDown`` or ``shutdownBudget`` passes (Firezone #10400).
public final class ClientEventLoop: BlockingEventLoop {
    private enum Token: UInt64 {
        case tun = 1
        case udp4
        case udp6
        case portal
        case dns
        case reset
        case networkChanges
    }

    /// Firezone's `shut_down` flushes its IO for at most 1 s before giving up on the goodbyes.
    public static let shutdownBudget = Duration.seconds(1)
    /// How often the status file is rewritten: the last handshake's age is shown in seconds.
    public static let statusInterval = Duration.seconds(1)

    private var state: ClientState
    private let driver: EventLoopDriver
    private let portal: PortalBridge<ClientTopic>
    private let upstreams: UpstreamDNSClient
    private let resetRequest: ResetRequest
    private let networkChanges: NetworkChangeMonitor?
    private let networkChanged: () -> [IPSocketAddress]?
    private let statusFile: StatusFile?
    /// Whether the last status write failed, so that a lasting failure is warned about once.
    private var statusFileFailing = false
    private let configureTunnel: (TunConfig) -> Void
    private let logger: Logger
    private var signedIn = false
    private var resources: [ClientResourceView] = []
    private var nextStatus: Instant
    public let io: TunnelIO

    /// Takes over `sockets` and the offload TUN device `tun` (closed by the caller after ``run(until:)``).
    /// `systemResolvers` are the host's resolvers as they were before DNS control pointed the host at the stub.
    public init(
        secret: StaticSecret,
        sockets: TunnelSockets,
        tun: Int32,
        portal: PortalBridge<ClientTopic>,
        systemResolvers: [IPSocketAddress],
        activateInternetResource: Bool,
        resetRequest: ResetRequest,
        networkChanges: NetworkChangeMonitor?,
        statusFile: StatusFile?,
        configureTunnel: @escaping (TunConfig) -> Void,
        networkChanged: @escaping () -> [IPSocketAddress]?,
        logger: Logger
    ) throws(SystemCallError) {
        let driver = try EventLoopDriver()
        let now = driver.clock.now()
        self.state = ClientState(
            secret: secret,
            seed: Self.randomSeed(),
            internetResourceActivated: activateInternetResource,
            logger: logger,
            unixTime: driver.clock.unixTime(),
            now: now
        )
        self.state.updateSystemResolvers(systemResolvers, now: now)
        self.driver = driver
        self.portal = portal
        self.upstreams = try UpstreamDNSClient(logger: logger)
        self.resetRequest = resetRequest
        self.networkChanges = networkChanges
        self.networkChanged = networkChanged
        self.statusFile = statusFile
        self.configureTunnel = configureTunnel
        self.logger = logger
        self.nextStatus = now
        self.io = TunnelIO(driver: driver, sockets: sockets)
        try self.io.register(
            tun: tun,
            tunToken: Token.tun.rawValue,
            udp4Token: Token.udp4.rawValue,
            udp6Token: Token.udp6.rawValue
        )
        logger.info("TUN device offloads", metadata: ["offloads": "\(driver.tunOffloads ?? [])"])
        try driver.register(readable: portal.wakeupDescriptor, token: Token.portal.rawValue)
        try driver.register(readable: self.upstreams.descriptor, token: Token.dns.rawValue)
        try driver.register(readable: resetRequest.descriptor, token: Token.reset.rawValue)
        if let networkChanges {
            try driver.register(readable: networkChanges.fileDescriptor, token: Token.networkChanges.rawValue)
        }
    }

    public var publicKey: PublicKey {
        self.state.publicKey
    }

    /// Says goodbye to every gateway and runs on until the goodbyes are out or ``shutdownBudget`` passed.
    public func closeTunnel() {
        let start = self.driver.clock.now()
        self.state.shutDown(now: start)
        self.drainState(now: start)
        self.io.flush()
        while !self.state.isShutDown && self.driver.clock.now() - start < Self.shutdownBudget {
            do {
                try self.driver.turn(self)
            } catch {
                break
            }
            self.drainState(now: self.driver.clock.now())
            self.io.flush()
        }
        self.statusFile?.remove()
        self.logger.info(
            "Client closed its connections",
            metadata: ["goodbyes.complete": "\(self.state.isShutDown)"]
        )
    }

    // MARK: Inputs

    /// The datagram in the driver's slot is opened there and its packet written to the TUN device from there.
    private func handleDatagram(_ datagram: inout ByteBuffer, received: fz_datagram, socket: Token, now: Instant) {
        let source = received.socketAddress
        let local = self.io.localAddress(ofDatagramFrom: source, onIPv6: socket == .udp6)
        if let packet = self.state.handleNetworkInput(&datagram, from: source, local: local, now: now) {
            self.io.queueTUNWrite(openedIn: packet, storage: received.bytes!)
        }
        self.drainState(now: now)
    }

    /// The packet in the driver's TUN region is sealed there and leaves from there, after what the state queued
    /// for it (a DNS resource's `AssignedIps` goes first, as the state sent it first).
    private func handleTUNPacket(_ packet: inout ByteBuffer, storage: UnsafeMutablePointer<UInt8>, now: Instant) {
        let destination = self.state.handleTunInput(&packet, now: now)
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
                self.signedIn = true
                self.logger.info("Signed in to the portal")
            case .disconnected(let reason, let retryIn):
                self.signedIn = false
                self.logger.warning(
                    "Portal connection lost",
                    metadata: ["reason": "\(reason)", "retry.in": "\(retryIn)"]
                )
            case .failed(let failure):
                self.signedIn = false
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

    /// Roaming: the sockets' source addresses may have changed, and every connection starts over with a new
    /// WireGuard key (Firezone 685acdac3a's rust/client-shared/src/eventloop.rs: `reset`, then
    /// `PortalCommand::Connect` with the new public key). The portal connection signs in again with the key, and
    /// the portal hands it to the gateways with the next flows; until the new connection is joined, the state's
    /// portal messages wait in the bridge.
    private func reset(_ reason: String, now: Instant) {
        self.resetRequest.acknowledge()
        self.io.resetSourceAddresses()
        var generator = SystemRandomNumberGenerator()
        self.state.reset(secret: StaticSecret.random(using: &generator), now: now)
        self.logger.info("\(reason): resetting connections", metadata: ["public.key": "\(self.state.publicKey)"])
        self.signedIn = false
        self.portal.reconnect(publicKey: self.state.publicKey)
        self.drainState(now: now)
    }

    private func deliverDNSOutcomes(now: Instant) {
        while let outcome = self.upstreams.pollOutcome() {
            self.state.handleDNSResponse(outcome.query, result: outcome.result, now: now)
        }
        self.drainState(now: now)
    }

    // MARK: Outputs

    /// Queues the state's datagrams and packets and acts on its portal messages, DNS queries and events. The
    /// upstreams' outcomes are drained wherever they arise (``deliverDNSOutcomes(now:)``, and in the loop below for a
    /// query that fails at once), so none waits when the state has nothing: then there is nothing to do.
    private func drainState(now: Instant) {
        guard self.state.hasPendingOutput else {
            return
        }
        while true {
            var progressed = false
            while let transmit = self.state.pollTransmit() {
                self.io.queueSend(transmit)
                progressed = true
            }
            while let packet = self.state.pollTunWrite() {
                self.io.queueTUNWrite(packet)
                progressed = true
            }
            while let message = self.state.pollPortalMessage() {
                self.portal.send(message)
                progressed = true
            }
            while let query = self.state.pollDNSQuery() {
                self.upstreams.send(query, over: query.transport, now: now)
                progressed = true
            }
            var latestTunnel: TunConfig?
            while let event = self.state.pollEvent() {
                progressed = true
                switch event {
                case .resourcesChanged(let resources):
                    self.resources = resources
                case .tunInterfaceUpdated(let config):
                    latestTunnel = config
                case .noRelays:
                    // Firezone 685acdac3a's portal sends relays only in `init`: the client reconnects for a fresh
                    // one, as that release answers `NoTurnServers`.
                    self.logger.warning("No usable relay: reconnecting to the portal")
                    self.portal.reconnect()
                case .dnsRecordsChanged:
                    // Kept by the core for the next session of this process; the headless client runs one.
                    break
                }
            }
            if let latestTunnel {
                self.configureTunnel(latestTunnel)
            }
            // A query that failed at once has its outcome waiting already.
            while let outcome = self.upstreams.pollOutcome() {
                self.state.handleDNSResponse(outcome.query, result: outcome.result, now: now)
                progressed = true
            }
            if !progressed {
                return
            }
        }
    }

    // MARK: Status

    private func writeStatus(now: Instant) {
        guard let statusFile = self.statusFile else {
            return
        }
        let status = ClientStatus(
            signedIn: self.signedIn,
            resources: self.resources,
            state: self.state,
            now: now,
            unixTime: self.driver.clock.unixTime()
        )
        do {
            try statusFile.write(status)
            self.statusFileFailing = false
        } catch {
            // Once per failing stretch: the file is rewritten every second.
            if !self.statusFileFailing {
                self.logger.warning("Cannot write the status file", metadata: ["error": "\(error)"])
            }
            self.statusFileFailing = true
        }
    }
}

extension ClientEventLoop: EventLoopHandler {
    public func nextDeadline() -> Instant? {
        var deadline = self.nextStatus
        if let state = self.state.pollTimeout()?.deadline, state < deadline {
            deadline = state
        }
        if let upstream = self.upstreams.nextDeadline(), upstream < deadline {
            deadline = upstream
        }
        if let change = self.networkChanges?.nextDeadline(), change < deadline {
            deadline = change
        }
        return deadline
    }

    public func handleTimeout(now: Instant) {
        if let deadline = self.state.pollTimeout()?.deadline, deadline <= now {
            self.state.handleTimeout(now: now)
            self.drainState(now: now)
        }
        if let deadline = self.upstreams.nextDeadline(), deadline <= now {
            self.upstreams.handleTimeout(now: now)
            self.deliverDNSOutcomes(now: now)
        }
        if let monitor = self.networkChanges, let deadline = monitor.nextDeadline(), deadline <= now,
            monitor.handleTimeout(now: now)
        {
            if let resolvers = self.networkChanged() {
                self.state.updateSystemResolvers(resolvers, now: now)
            }
            self.reset("Network changed", now: now)
        }
        if now >= self.nextStatus {
            self.nextStatus = now + Self.statusInterval
            self.writeStatus(now: now)
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
        switch Token(rawValue: source) {
        case .portal:
            self.handlePortal(now: now)
        case .dns:
            self.upstreams.handleReadable(now: now)
            self.deliverDNSOutcomes(now: now)
        case .reset:
            self.reset("Reset requested (SIGHUP)", now: now)
        case .networkChanges:
            do {
                try self.networkChanges?.handleReadable(now: now)
            } catch {
                self.logger.warning("Cannot read network changes", metadata: ["error": "\(error)"])
            }
        case .tun, .udp4, .udp6, nil:
            break
        }
        // The driver flushes after this returns; flushing here lets the storage go at once.
        self.io.flush()
    }

    public func didFinishBatch(source: UInt64, now: Instant) {
        self.io.batchFlushed()
    }
}
