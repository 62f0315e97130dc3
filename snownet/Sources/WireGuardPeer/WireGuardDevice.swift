import FirezoneCrypto
import LinuxIO
import FirezoneTime
import Glibc
import IPPacket
import Logging
import NIOCore
import WireGuard

/// A userspace WireGuard device: a TUN interface, UDP sockets and a ``WireGuardRouter`` with one tunnel per
/// configured peer, driven by one thread (the interop and benchmark testbed of `wireguard-peer`).
///
/// Each turn of the loop waits on epoll for the TUN device, the sockets, the termination signal or the earliest
/// tunnel timer. The TUN device runs with TCP segmentation offload (IFF_VNET_HDR, as wireguard-go and Tailscale
/// do): the kernel hands over TCP super-packets of up to 64 KiB, which are cut into MTU-sized packets in a
/// preallocated region, each with 16 bytes of headroom for the transport header, routed by destination to a
/// peer's AllowedIPs and encrypted in place; each batch leaves with one sendmmsg(2) per socket, runs of
/// equal-size datagrams to one endpoint as UDP GSO sends (`fz_udp_send_coalesced`). Datagrams arrive by
/// recvmmsg(2) into other slots (UDP GRO may hand over a run of them as one, which is split), and the router
/// decrypts each in place for its peer (rate limiter, tunnel, AllowedIPs, roaming); packets are then written to
/// the TUN device. Nothing is allocated per packet on these paths.
public final class WireGuardDevice {
    /// Datagrams read per recvmmsg(2): enough to amortise the call, few enough that one direction cannot starve
    /// the other for long.
    static let batchSize = 32
    /// The most packets one TUN super-packet becomes: 64 KiB of TCP payload in segments of at least 1 KiB.
    static let maximumSegments = 64
    /// Super-packets read from the TUN device per send batch.
    static let regionsPerBatch = 2
    /// Room for one super-packet's datagrams: 64 segments of up to 4 KiB, or one packet of up to 64 KiB.
    static let regionCapacity = 256 * 1024
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
        case signal
    }

    /// Peers are named by their position in the configuration.
    private var router: WireGuardRouter<Int, IPSocketAddress, AllowedIPList>
    /// AllowedIPs of all peers, longest prefix first, for routing outgoing packets.
    private let routes: [(network: IPNetwork, peer: Int)]
    /// Peers whose timers fired, reused by every turn of the loop.
    private var firedPeers: [Int] = []
    private let logger: Logger

    private let tun: Int32
    private let udp4: Int32
    private let udp6: Int32
    private let epoll: Int32
    private let signals: Int32
    private let clockOrigin = ContinuousClock.now

    /// Where super-packets from the TUN device are cut up and sealed, and the start of each one's storage.
    private var regions: [ByteBuffer] = []
    private var regionBases: [UnsafeMutablePointer<UInt8>] = []
    private var segmentLengths: [UInt32]
    /// Set by `fz_udp_send_coalesced` when a UDP GSO send fails with EIO (seed 004 #10279); then never tried again.
    private var segmentationOffloadDisabled: UInt8 = 0
    /// One super-packet with its virtio-net header, as read from the TUN device.
    private let superPacket: UnsafeMutableRawBufferPointer
    /// Decrypted packets of the current receive batch, written to the TUN device together (coalesced) at its end.
    private var deliveries: [UnsafeMutablePointer<UInt8>?] = []
    private var deliveryLengths: [UInt32] = []
    /// Where coalesced super-packets for the TUN device are built.
    private let coalesced: UnsafeMutableRawBufferPointer
    private var udpSlots: [ByteBuffer] = []
    private var received: [fz_datagram]
    private var outgoing4: [fz_datagram] = []
    private var outgoing6: [fz_datagram] = []
    private var control = ByteBuffer()
    private var tokens: [UInt64]
    private var deviceStats = DeviceStats()

    /// The device's own counters together with the router's drops.
    public var stats: DeviceStats {
        var stats = self.deviceStats
        stats.packetsFromDisallowedSource = self.router.stats.packetsFromDisallowedSource
        stats.invalidDatagrams += self.router.stats.invalidDatagrams
        stats.unknownPeers = self.router.stats.unknownPeers
        return stats
    }

    public init(interfaceName: String, configuration: DeviceConfiguration, logger: Logger) throws(SystemCallError) {
        self.logger = logger
        let identity = LocalIdentity(secret: configuration.privateKey)
        var rng = SystemRandomNumberGenerator()
        let now = Instant.zero
        let unixTime = Self.unixTime()
        var router = WireGuardRouter<Int, IPSocketAddress, AllowedIPList>(
            identity: identity,
            limiterSeed: Self.seed(&rng),
            indexSeed: rng.next(),
            now: now
        )
        var routes: [(network: IPNetwork, peer: Int)] = []
        for (index, peer) in configuration.peers.enumerated() {
            do throws(WireGuardRouterError) {
                _ = try router.addPeer(
                    index,
                    publicKey: peer.publicKey,
                    presharedKey: peer.presharedKey,
                    persistentKeepalive: peer.persistentKeepalive,
                    endpoint: peer.endpoint,
                    allowedIPs: AllowedIPList(networks: peer.allowedIPs),
                    seed: Self.seed(&rng),
                    logger: logger,
                    now: now,
                    unixTime: unixTime
                )
            } catch {
                throw SystemCallError(operation: "add peer \(peer.publicKey): \(error)", errno: EINVAL)
            }
            routes += peer.allowedIPs.map { ($0, index) }
        }
        self.router = router
        self.routes = routes.sorted { $0.network.prefixLength > $1.network.prefixLength }
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
        self.signals = fz_termination_signalfd()
        guard self.signals >= 0 else {
            throw SystemCallError(operation: "signalfd", errno: -self.signals)
        }
        self.epoll = fz_epoll_create()
        guard self.epoll >= 0 else {
            throw SystemCallError(operation: "epoll_create1", errno: -self.epoll)
        }
        for (fd, token) in [(tun, Token.tun), (udp4, .udp4), (udp6, .udp6), (self.signals, .signal)] {
            let result = fz_epoll_add(self.epoll, fd, token.rawValue)
            guard result == 0 else {
                throw SystemCallError(operation: "epoll_ctl", errno: -result)
            }
        }

        self.received = Array(repeating: fz_datagram(), count: Self.batchSize)
        self.segmentLengths = Array(repeating: 0, count: Self.maximumSegments)
        self.superPacket = .allocate(byteCount: Int(FZ_VNET_HEADER_LENGTH) + 65_536, alignment: 16)
        self.coalesced = .allocate(byteCount: Int(FZ_VNET_HEADER_LENGTH) + 65_536, alignment: 16)
        self.deliveries.reserveCapacity(Self.batchSize * Self.maximumSegments)
        self.deliveryLengths.reserveCapacity(Self.batchSize * Self.maximumSegments)
        self.tokens = Array(repeating: 0, count: 8)
        self.outgoing4.reserveCapacity(Self.regionsPerBatch * Self.maximumSegments)
        self.outgoing6.reserveCapacity(Self.regionsPerBatch * Self.maximumSegments)
        for _ in 0..<Self.regionsPerBatch {
            var region = ByteBufferAllocator().buffer(capacity: Self.regionCapacity)
            region.writeRepeatingByte(0, count: Self.regionCapacity)
            // Uniquely owned by `regions` and never grown, so the storage address is stable for our lifetime.
            self.regionBases.append(region.withUnsafeMutableReadableBytes { $0.baseAddress!.assumingMemoryBound(to: UInt8.self) })
            self.regions.append(region)
        }
        for _ in 0..<Self.batchSize {
            var udpSlot = ByteBufferAllocator().buffer(capacity: Self.slotCapacity)
            udpSlot.writeRepeatingByte(0, count: Self.slotCapacity)
            // Uniquely owned by `udpSlots` and never grown, so the storage address is stable for our lifetime.
            let pointer = udpSlot.withUnsafeMutableReadableBytes { $0.baseAddress! }
            self.udpSlots.append(udpSlot)
            // recvmmsg(2) fills in length and address; where and how much it may write never changes.
            self.received[self.udpSlots.count - 1].bytes = pointer.assumingMemoryBound(to: UInt8.self)
            self.received[self.udpSlots.count - 1].capacity = UInt32(Self.slotCapacity)
        }
        self.control = ByteBufferAllocator().buffer(capacity: Self.slotCapacity)
        self.logger.info(
            "WireGuard device up",
            metadata: [
                "interface": "\(interfaceName)", "listen.port": "\(boundPort)",
                "peers": "\(configuration.peers.count)", "public.key": "\(identity.publicKey)",
            ]
        )
    }

    deinit {
        for fd in [self.tun, self.udp4, self.udp6, self.epoll, self.signals] where fd >= 0 {
            _ = Glibc.close(fd)
        }
        self.superPacket.deallocate()
        self.coalesced.deallocate()
    }

    private static func seed(_ rng: inout SystemRandomNumberGenerator) -> Bytes32 {
        Bytes32((0..<Bytes32.count).map { _ in UInt8.random(in: .min ... .max, using: &rng) })!
    }

    private static func unixTime() -> Duration {
        var seconds: Int64 = 0
        var nanoseconds: Int64 = 0
        fz_unix_time(&seconds, &nanoseconds)
        return .seconds(seconds) + .nanoseconds(nanoseconds)
    }

    private func now() -> Instant {
        Instant(nanoseconds: UInt64(clamping: (ContinuousClock.now - self.clockOrigin).nanoseconds))
    }

    /// Runs until SIGINT or SIGTERM.
    public func run() throws(SystemCallError) {
        // Persistent keepalives are due at once.
        self.handleTimers(now: self.now())
        while true {
            var timeout: Int32 = -1
            let now = self.now()
            if let deadline = self.router.pollTimeout()?.deadline {
                let wait = deadline - now
                timeout = wait <= .zero ? 0 : Int32(clamping: (wait.nanoseconds + 999_999) / 1_000_000)
            }
            let ready = self.tokens.withUnsafeMutableBufferPointer {
                fz_epoll_wait(self.epoll, $0.baseAddress, UInt32($0.count), timeout)
            }
            if ready == -EINTR {
                continue
            }
            guard ready >= 0 else {
                throw SystemCallError(operation: "epoll_wait", errno: -ready)
            }
            for index in 0..<Int(ready) {
                switch Token(rawValue: self.tokens[index]) {
                case .tun:
                    self.readTUN()
                case .udp4:
                    self.readUDP(self.udp4)
                case .udp6:
                    self.readUDP(self.udp6)
                case .signal:
                    self.logger.info("Termination signal received, shutting down")
                    return
                case nil:
                    preconditionFailure("unknown epoll token")
                }
            }
            self.handleTimers(now: self.now())
        }
    }

    private func handleTimers(now: Instant) {
        self.router.handleTimeout(now: now, unixTime: Self.unixTime(), fired: &self.firedPeers)
        for peer in self.firedPeers {
            self.flushControl(peer: peer, now: now)
        }
    }

    // MARK: TUN → peers

    /// Reads super-packets from the TUN device, cuts them into packets, encrypts and sends them.
    private func readTUN() {
        var more = true
        while more {
            let now = self.now()
            for region in 0..<Self.regionsPerBatch where more {
                more = self.readSuperPacket(into: region, now: now)
            }
            self.sendBatches()
        }
    }

    /// Reads one super-packet into `region`, seals its packets in place and queues them for the batch. False when
    /// nothing was waiting.
    private func readSuperPacket(into region: Int, now: Instant) -> Bool {
        var stride = 0
        let count = self.segmentLengths.withUnsafeMutableBufferPointer { lengths in
            fz_tun_read_segments(
                self.tun,
                self.superPacket.baseAddress!.assumingMemoryBound(to: UInt8.self),
                self.superPacket.count,
                self.regionBases[region],
                Self.regionCapacity,
                Self.headroom,
                WireGuardConstants.paddingMultiple,
                WireGuardConstants.tagLength,
                &stride,
                lengths.baseAddress!,
                UInt32(Self.maximumSegments)
            )
        }
        if count == -EINVAL {
            self.deviceStats.unsegmentablePackets += 1
            return true
        }
        guard count > 0 else {
            return false
        }
        for index in 0..<Int(count) {
            let offset = index * stride
            self.regions[region].moveReaderIndex(to: 0)
            self.regions[region].moveWriterIndex(to: offset + Self.headroom + Int(self.segmentLengths[index]))
            self.regions[region].moveReaderIndex(to: offset + Self.headroom)
            if let destination = self.seal(region: region, now: now) {
                self.queue(
                    self.regionBases[region] + self.regions[region].readerIndex,
                    length: self.regions[region].readableBytes,
                    to: destination
                )
            }
        }
        return true
    }

    /// Encrypts the packet in `regions[region]`'s readable bytes for the peer its destination routes to. Returns
    /// where the datagram goes, or nil when it does not go out now (no route, no endpoint, waiting for a handshake).
    private func seal(region: Int, now: Instant) -> IPSocketAddress? {
        guard let destination = self.regions[region].ipAddress(source: false),
            let peer = self.peer(routing: destination)
        else {
            self.deviceStats.packetsWithoutRoute += 1
            return nil
        }
        switch self.router.encapsulate(&self.regions[region], for: peer, now: now) {
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
        if datagram.family == 4 {
            self.outgoing4.append(datagram)
        } else {
            self.outgoing6.append(datagram)
        }
    }

    private func peer(routing address: IPAddress) -> Int? {
        for route in self.routes where route.network.contains(address) {
            return route.peer
        }
        return nil
    }

    private func sendBatches() {
        for (fd, family) in [(self.udp4, 4), (self.udp6, 6)] {
            let count = family == 4 ? self.outgoing4.count : self.outgoing6.count
            guard count > 0 else {
                continue
            }
            var failed: UInt32 = 0
            let sent =
                family == 4
                ? self.outgoing4.withUnsafeMutableBufferPointer {
                    fz_udp_send_coalesced(fd, $0.baseAddress, UInt32(count), &failed, &self.segmentationOffloadDisabled)
                }
                : self.outgoing6.withUnsafeMutableBufferPointer {
                    fz_udp_send_coalesced(fd, $0.baseAddress, UInt32(count), &failed, &self.segmentationOffloadDisabled)
                }
            if sent < count {
                self.deviceStats.sendFailures += UInt64(count - max(Int(sent), 0))
            }
            self.deviceStats.sendFailures += UInt64(failed)
            if family == 4 {
                self.outgoing4.removeAll(keepingCapacity: true)
            } else {
                self.outgoing6.removeAll(keepingCapacity: true)
            }
        }
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

    private func readUDP(_ fd: Int32) {
        while true {
            let count = self.received.withUnsafeMutableBufferPointer {
                fz_udp_receive_batch(fd, $0.baseAddress, UInt32(Self.batchSize))
            }
            guard count > 0 else {
                return
            }
            let now = self.now()
            for index in 0..<Int(count) {
                self.handleDatagram(slot: index, now: now)
            }
            self.deliver()
            if count < Self.batchSize {
                return
            }
        }
    }

    /// Writes the batch's decrypted packets to the TUN device, consecutive TCP segments of a flow as one.
    private func deliver() {
        guard !self.deliveries.isEmpty else {
            return
        }
        let failures = self.deliveries.withUnsafeBufferPointer { packets in
            self.deliveryLengths.withUnsafeBufferPointer { lengths in
                fz_tun_write_packets(
                    self.tun,
                    packets.baseAddress,
                    lengths.baseAddress,
                    UInt32(packets.count),
                    self.coalesced.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    self.coalesced.count
                )
            }
        }
        self.deviceStats.tunWriteFailures += UInt64(failures)
        self.deliveries.removeAll(keepingCapacity: true)
        self.deliveryLengths.removeAll(keepingCapacity: true)
    }

    /// Handles what one receive slot holds: a datagram, or a run of datagrams UDP GRO coalesced, one by one.
    private func handleDatagram(slot: Int, now: Instant) {
        let datagram = self.received[slot]
        guard datagram.truncated == 0 else {
            self.deviceStats.invalidDatagrams += 1
            return
        }
        let length = Int(datagram.length)
        let segmentSize = datagram.segment_size == 0 ? length : Int(datagram.segment_size)
        if segmentSize < length {
            self.deviceStats.coalescedReceives += 1
        }
        var start = 0
        while start < length {
            let end = min(start + segmentSize, length)
            self.udpSlots[slot].moveReaderIndex(to: 0)
            self.udpSlots[slot].moveWriterIndex(to: end)
            self.udpSlots[slot].moveReaderIndex(to: start)
            self.handleSegment(slot: slot, now: now)
            start = end
        }
    }

    /// Handles the datagram in `udpSlots[slot]`'s readable bytes.
    private func handleSegment(slot: Int, now: Instant) {
        let datagram = self.received[slot]
        let source = datagram.socketAddress
        do throws(WireGuardRouterError) {
            let result = try self.router.decapsulate(
                &self.udpSlots[slot],
                from: source,
                cookieSource: datagram.cookieSource,
                reply: &self.control,
                now: now
            )
            switch result {
            case .packet:
                self.deliveries.append(self.received[slot].bytes + self.udpSlots[slot].readerIndex)
                self.deliveryLengths.append(UInt32(self.udpSlots[slot].readableBytes))
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
