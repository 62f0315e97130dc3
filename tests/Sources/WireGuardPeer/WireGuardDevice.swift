import FirezoneCrypto
import FirezoneTime
import Glibc
import IPPacket
import LinuxIO
import Logging
import NIOCore
import WireGuard

/// A userspace WireGuard device: a TUN interface, UDP sockets and a ``WireGuardRouter`` with one tunnel per
/// configured peer, driven by one thread on an ``EventLoopDriver`` (the interop and benchmark testbed of
/// `wireguard-peer`).
///
/// Each turn of the loop waits on epoll for the TUN device, the sockets, the termination signal or the earliest
/// tunnel timer. The TUN device runs with TCP and UDP segmentation offload where the kernel takes them (IFF_VNET_HDR,
/// as wireguard-go and Tailscale do): the kernel hands over super-packets of up to 64 KiB, which the driver cuts
/// into MTU-sized packets in a preallocated region, each with 16 bytes of headroom for the transport header; each
/// is routed by destination to a peer's AllowedIPs and encrypted in place, and the batch leaves with one sendmmsg(2) per socket, runs of
/// equal-size datagrams to one endpoint as UDP GSO sends. Datagrams arrive by recvmmsg(2) into the driver's slots
/// (UDP GRO runs split), and the router decrypts each in place for its peer (rate limiter, tunnel, AllowedIPs,
/// roaming); packets are then written to the TUN device, coalesced. Nothing is allocated per packet on these paths.
public final class WireGuardDevice {
    /// Bytes in front of each TUN packet for the transport header.
    static let headroom = WireGuardConstants.transportHeaderLength
    /// The largest datagram (and IP packet) plus padding and tag.
    static let slotCapacity = 65_536 + WireGuardConstants.transportOverhead
    /// Kernel socket buffers we ask for (wireguard-go f26efb6 uses 7 MB for the same reason: absorb bursts).
    static let socketBufferSize: Int32 = 8 << 20

    private enum Token: UInt64 {
        case tun = 1
        case udp4
        case udp6
    }

    /// Peers are named by their position in the configuration.
    private var router: WireGuardRouter<Int, IPSocketAddress, PeerAllowedIPs>
    /// AllowedIPs of all peers, valued by peer: routes outgoing packets by destination and checks incoming sources.
    private let routes: IPNetworkTable<Int>
    /// Peers whose timers fired, reused by every turn of the loop.
    private var firedPeers: [Int] = []
    private let logger: Logger

    private let tun: Int32
    private let udp4: Int32
    private let udp6: Int32
    private let driver: EventLoopDriver
    private var control = ByteBuffer()
    private var deviceStats = DeviceStats()

    /// The device's drops, with those of its router and its event loop.
    public var stats: DeviceStats {
        var stats = self.deviceStats
        stats.packetsFromDisallowedSource = self.router.stats.packetsFromDisallowedSource
        stats.invalidDatagrams += self.router.stats.invalidDatagrams
        stats.unknownPeers = self.router.stats.unknownPeers
        let counters = self.driver.counters
        stats.invalidDatagrams += counters.truncatedDatagrams
        stats.sendFailures += counters.datagramsNotSent
        stats.tunWriteFailures += counters.tunWriteFailures
        stats.unsegmentablePackets += counters.unsegmentablePackets
        stats.coalescedReceives += counters.coalescedReceives
        return stats
    }

    public init(interfaceName: String, configuration: DeviceConfiguration, logger: Logger) throws(SystemCallError) {
        self.logger = logger
        let identity = LocalIdentity(secret: configuration.privateKey)
        var rng = SystemRandomNumberGenerator()
        // SIGINT and SIGTERM go to the loop's signalfd; blocked before any thread of ours starts.
        self.driver = try EventLoopDriver(terminationSignals: true)
        let now = self.driver.clock.now()
        let unixTime = self.driver.clock.unixTime()
        var router = WireGuardRouter<Int, IPSocketAddress, PeerAllowedIPs>(
            identity: identity,
            limiterSeed: Self.seed(&rng),
            indexSeed: rng.next(),
            now: now
        )
        let routes = PeerAllowedIPs.routes(of: configuration.peers)
        for (index, peer) in configuration.peers.enumerated() {
            do throws(WireGuardRouterError) {
                _ = try router.addPeer(
                    index,
                    publicKey: peer.publicKey,
                    presharedKey: peer.presharedKey,
                    persistentKeepalive: peer.persistentKeepalive,
                    endpoint: peer.endpoint,
                    allowedIPs: PeerAllowedIPs(routes: routes, peer: index),
                    seed: Self.seed(&rng),
                    logger: logger,
                    now: now,
                    unixTime: unixTime
                )
            } catch {
                throw SystemCallError(operation: "add peer \(peer.publicKey): \(error)", errno: EINVAL)
            }
        }
        self.router = router
        self.routes = routes
        self.firedPeers.reserveCapacity(configuration.peers.count)

        let tun = interfaceName.withCString { fz_tun_open_offload($0) }
        guard tun >= 0 else {
            throw SystemCallError(operation: "open TUN device \(interfaceName)", errno: -tun)
        }
        self.tun = tun
        let port = configuration.listenPort ?? 0
        let any = [UInt8](repeating: 0, count: 16)
        let udp4 = fz_udp_bind(4, any, port, Self.socketBufferSize, Self.socketBufferSize)
        guard udp4 >= 0 else {
            throw SystemCallError(operation: "bind UDP port \(port) (IPv4)", errno: -udp4)
        }
        self.udp4 = udp4
        let boundPort = UInt16(fz_udp_local_port(udp4))
        let udp6 = fz_udp_bind(6, any, boundPort, Self.socketBufferSize, Self.socketBufferSize)
        guard udp6 >= 0 else {
            throw SystemCallError(operation: "bind UDP port \(boundPort) (IPv6)", errno: -udp6)
        }
        self.udp6 = udp6
        for fd in [udp4, udp6] {
            // Best effort: without UDP GRO every datagram simply arrives on its own.
            _ = fz_udp_enable_gro(fd)
        }
        try self.driver.register(
            tun: tun,
            token: Token.tun.rawValue,
            layout: .init(
                headroom: Self.headroom,
                paddingMultiple: WireGuardConstants.paddingMultiple,
                tailroom: WireGuardConstants.tagLength
            )
        )
        try self.driver.register(udp: udp4, token: Token.udp4.rawValue)
        try self.driver.register(udp: udp6, token: Token.udp6.rawValue)
        self.control = ByteBufferAllocator().buffer(capacity: Self.slotCapacity)
        self.logger.info(
            "WireGuard device up",
            metadata: [
                "interface": "\(interfaceName)", "listen.port": "\(boundPort)",
                "peers": "\(configuration.peers.count)", "public.key": "\(identity.publicKey)",
                "tun.offloads": "\(self.driver.tunOffloads ?? [])",
            ]
        )
    }

    deinit {
        for fd in [self.tun, self.udp4, self.udp6] where fd >= 0 {
            _ = Glibc.close(fd)
        }
    }

    private static func seed(_ rng: inout SystemRandomNumberGenerator) -> Bytes32 {
        Bytes32((0..<Bytes32.count).map { _ in UInt8.random(in: .min ... .max, using: &rng) })!
    }

    /// Runs until SIGINT or SIGTERM.
    public func run() throws(SystemCallError) {
        // Persistent keepalives are due at once.
        self.handleTimers(now: self.driver.clock.now())
        try self.driver.run(self, until: { false })
        self.logger.info("Termination signal received, shutting down")
    }

    private func handleTimers(now: Instant) {
        self.router.handleTimeout(now: now, unixTime: self.driver.clock.unixTime(), fired: &self.firedPeers)
        for peer in self.firedPeers {
            self.flushControl(peer: peer, now: now)
        }
    }

    // MARK: TUN → peers

    /// Encrypts one packet from the TUN device and queues it for its peer's endpoint.
    private func handleTUNPacket(_ packet: inout ByteBuffer, storage: UnsafeMutablePointer<UInt8>, now: Instant) {
        if let destination = self.seal(&packet, now: now) {
            self.queue(storage + packet.readerIndex, length: packet.readableBytes, to: destination)
        }
    }

    /// Encrypts the packet in `packet`'s readable bytes for the peer its destination routes to. Returns where the
    /// datagram goes, or nil when it does not go out now (no route, no endpoint, waiting for a handshake).
    private func seal(_ packet: inout ByteBuffer, now: Instant) -> IPSocketAddress? {
        guard let header = try? IPHeader(packet), let peer = self.routes.longestMatch(for: header.destination)?.value
        else {
            self.deviceStats.packetsWithoutRoute += 1
            return nil
        }
        switch self.router.encapsulate(&packet, for: peer, now: now) {
        case .datagram:
            guard let endpoint = self.router.endpoint(of: peer) else {
                self.deviceStats.packetsWithoutEndpoint += 1
                return nil
            }
            return endpoint
        case .queued:
            self.flushControl(peer: peer, now: now)
            return nil
        case nil:
            preconditionFailure("routes name configured peers only")
        }
    }

    private func queue(_ bytes: UnsafeMutablePointer<UInt8>, length: Int, to endpoint: IPSocketAddress) {
        var datagram = fz_datagram()
        datagram.setDestination(endpoint)
        datagram.bytes = bytes
        datagram.length = UInt32(length)
        self.driver.queueSend(datagram, on: datagram.family == 4 ? self.udp4 : self.udp6)
    }

    /// Sends what a tunnel has queued (handshake messages, keepalives, packets that waited for a session), one by
    /// one: these are rare next to data.
    private func flushControl(peer: Int, now: Instant) {
        while self.router.pollTransmit(for: peer, into: &self.control, now: now) {
            guard let endpoint = self.router.endpoint(of: peer) else {
                self.deviceStats.packetsWithoutEndpoint += 1
                continue
            }
            self.sendControl(to: endpoint)
        }
    }

    private func sendControl(to endpoint: IPSocketAddress) {
        var datagram = fz_datagram()
        datagram.setDestination(endpoint)
        var failed: UInt32 = 0
        let fd = datagram.family == 4 ? self.udp4 : self.udp6
        let sent = self.control.withUnsafeMutableReadableBytes { raw in
            datagram.bytes = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            datagram.length = UInt32(raw.count)
            return fz_udp_send_batch(fd, &datagram, 1, &failed)
        }
        if sent != 1 || failed != 0 {
            self.deviceStats.sendFailures += 1
        }
    }

    // MARK: Peers → TUN

    /// Handles one datagram: `buffer`'s readable bytes, received as `datagram` says.
    private func handleSegment(_ buffer: inout ByteBuffer, datagram: fz_datagram, now: Instant) {
        let source = datagram.socketAddress
        do throws(WireGuardRouterError) {
            let result = try self.router.decapsulate(
                &buffer,
                from: source,
                cookieSource: datagram.cookieSource,
                reply: &self.control,
                now: now
            )
            switch result {
            case .packet:
                self.driver.queueTUNWrite(datagram.bytes + buffer.readerIndex, length: buffer.readableBytes)
            case .keepalive:
                break
            case .handshake(let peer):
                self.flushControl(peer: peer, now: now)
            case .sendCookieReply:
                self.sendControl(to: source)
            }
        } catch {
            self.logger.trace("Dropped datagram", metadata: ["error": "\(error)"])
        }
    }
}

extension WireGuardDevice: EventLoopHandler {
    public func nextDeadline() -> Instant? {
        self.router.pollTimeout()?.deadline
    }

    public func handleTimeout(now: Instant) {
        self.handleTimers(now: now)
    }

    public func handleDatagram(_ datagram: inout ByteBuffer, received: fz_datagram, source: UInt64, now: Instant) {
        self.handleSegment(&datagram, datagram: received, now: now)
    }

    public func handleTUNPacket(
        _ packet: inout ByteBuffer,
        storage: UnsafeMutablePointer<UInt8>,
        source: UInt64,
        now: Instant
    ) {
        self.handleTUNPacket(&packet, storage: storage, now: now)
    }
}

/// Counters of the device's drops (and of its UDP offload use), for its log at exit.
public struct DeviceStats: Sendable, CustomStringConvertible {
    public var packetsWithoutRoute: UInt64 = 0
    public var packetsWithoutEndpoint: UInt64 = 0
    public var packetsFromDisallowedSource: UInt64 = 0
    public var invalidDatagrams: UInt64 = 0
    public var unknownPeers: UInt64 = 0
    public var sendFailures: UInt64 = 0
    public var tunWriteFailures: UInt64 = 0
    public var unsegmentablePackets: UInt64 = 0
    /// Not a drop: receives that UDP GRO coalesced from several datagrams.
    public var coalescedReceives: UInt64 = 0

    public var description: String {
        "no route \(self.packetsWithoutRoute), no endpoint \(self.packetsWithoutEndpoint), "
            + "disallowed source \(self.packetsFromDisallowedSource), invalid \(self.invalidDatagrams), "
            + "unknown peer \(self.unknownPeers), send failures \(self.sendFailures), "
            + "TUN write failures \(self.tunWriteFailures), unsegmentable \(self.unsegmentablePackets), "
            + "coalesced receives \(self.coalescedReceives)"
    }
}
