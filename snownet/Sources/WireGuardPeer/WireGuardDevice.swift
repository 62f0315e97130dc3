import FirezoneCrypto
import LinuxIO
import FirezoneTime
import Glibc
import IPPacket
import Logging
import NIOCore
import WireGuard

/// A userspace WireGuard device: a TUN interface, UDP sockets and one ``Tunnel`` per configured peer, driven by
/// one thread (the interop and benchmark testbed of `wireguard-peer`).
///
/// Each turn of the loop waits on epoll for the TUN device, the sockets, the termination signal or the earliest
/// tunnel timer. The TUN device runs with TCP segmentation offload (IFF_VNET_HDR, as wireguard-go and Tailscale
/// do): the kernel hands over TCP super-packets of up to 64 KiB, which are cut into MTU-sized packets in a
/// preallocated region, each with 16 bytes of headroom for the transport header, routed by destination to a
/// peer's AllowedIPs and encrypted in place; each batch leaves with one sendmmsg(2) per socket, runs of
/// equal-size datagrams to one endpoint as UDP GSO sends (`fz_udp_send_coalesced`). Datagrams arrive by
/// recvmmsg(2) into other slots (UDP GRO may hand over a run of them as one, which is split), pass the rate limiter, go to the tunnel their receiver index (or, for an
/// initiation, their decrypted static key) names, are decrypted in place and written to the TUN device if their
/// source address is one of that peer's AllowedIPs. Nothing is allocated per packet on these paths.
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

    private struct Peer {
        var tunnel: Tunnel
        var endpoint: IPSocketAddress?
        let allowedIPs: [IPNetwork]
    }

    private enum Token: UInt64 {
        case tun = 1
        case udp4
        case udp6
        case signal
    }

    private let identity: LocalIdentity
    private var peers: [Peer]
    private let peerByKey: [PublicKey: Int]
    /// AllowedIPs of all peers, longest prefix first, for routing outgoing packets.
    private let routes: [(network: IPNetwork, peer: Int)]
    private var limiter: HandshakeRateLimiter
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
    public private(set) var stats = DeviceStats()

    public init(interfaceName: String, configuration: DeviceConfiguration, logger: Logger) throws(SystemCallError) {
        self.logger = logger
        self.identity = LocalIdentity(secret: configuration.privateKey)
        var rng = SystemRandomNumberGenerator()
        let now = Instant.zero
        let unixTime = Self.unixTime()
        var peers: [Peer] = []
        var byKey: [PublicKey: Int] = [:]
        var routes: [(network: IPNetwork, peer: Int)] = []
        for (index, peer) in configuration.peers.enumerated() {
            let tunnel = Tunnel(
                local: self.identity,
                remote: peer.publicKey,
                presharedKey: peer.presharedKey,
                // Index 0 would make session indices of 0..7; starting at 1 keeps every index non-zero.
                peerIndex: PeerIndex(UInt32(index + 1)),
                persistentKeepalive: peer.persistentKeepalive,
                seed: Self.seed(&rng),
                logger: logger,
                now: now,
                unixTime: unixTime
            )
            peers.append(Peer(tunnel: tunnel, endpoint: peer.endpoint, allowedIPs: peer.allowedIPs))
            byKey[peer.publicKey] = index
            routes += peer.allowedIPs.map { ($0, index) }
        }
        self.peers = peers
        self.peerByKey = byKey
        self.routes = routes.sorted { $0.network.prefixLength > $1.network.prefixLength }
        self.limiter = HandshakeRateLimiter(identity: self.identity, seed: Self.seed(&rng), now: now)

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
                "interface": "\(interfaceName)", "listen.port": "\(boundPort)", "peers": "\(peers.count)",
                "public.key": "\(self.identity.publicKey)",
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
            if let deadline = self.earliestDeadline() {
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

    private func earliestDeadline() -> Instant? {
        var earliest: Instant?
        for peer in self.peers {
            if let deadline = peer.tunnel.pollTimeout()?.deadline, deadline < earliest ?? Instant(nanoseconds: .max) {
                earliest = deadline
            }
        }
        return earliest
    }

    private func handleTimers(now: Instant) {
        let unixTime = Self.unixTime()
        for index in self.peers.indices {
            if let deadline = self.peers[index].tunnel.pollTimeout()?.deadline, deadline <= now {
                self.peers[index].tunnel.handleTimeout(now: now, unixTime: unixTime)
                self.flushControl(peer: index, now: now)
            }
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
            self.stats.unsegmentablePackets += 1
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
        guard let destination = Self.address(in: self.regions[region], sourceNotDestination: false),
            let peer = self.peer(routing: destination)
        else {
            self.stats.packetsWithoutRoute += 1
            return nil
        }
        switch self.peers[peer].tunnel.encapsulate(&self.regions[region], now: now) {
        case .datagram:
            guard let endpoint = self.peers[peer].endpoint else {
                self.stats.packetsWithoutEndpoint += 1
                return nil
            }
            return endpoint
        case .queued:
            self.flushControl(peer: peer, now: now)
            return nil
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

    /// The destination (or source) address of the IP packet in `buffer`'s readable bytes.
    private static func address(in buffer: ByteBuffer, sourceNotDestination: Bool) -> IPAddress? {
        buffer.withUnsafeReadableBytes { raw -> IPAddress? in
            guard raw.count >= 20 else {
                return nil
            }
            switch raw[0] >> 4 {
            case 4:
                let offset = sourceNotDestination ? 12 : 16
                return .v4(IPv4Address(rawValue: UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
            case 6 where raw.count >= 40:
                let offset = sourceNotDestination ? 8 : 24
                return .v6(
                    IPv6Address(
                        high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
                        low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
                    )
                )
            default:
                return nil
            }
        }
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
                self.stats.sendFailures += UInt64(count - max(Int(sent), 0))
            }
            self.stats.sendFailures += UInt64(failed)
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
        while self.peers[peer].tunnel.pollTransmit(into: &self.control, now: now) {
            guard let endpoint = self.peers[peer].endpoint else {
                self.stats.packetsWithoutEndpoint += 1
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
            self.stats.sendFailures += 1
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
        self.stats.tunWriteFailures += UInt64(failures)
        self.deliveries.removeAll(keepingCapacity: true)
        self.deliveryLengths.removeAll(keepingCapacity: true)
    }

    /// Handles what one receive slot holds: a datagram, or a run of datagrams UDP GRO coalesced, one by one.
    private func handleDatagram(slot: Int, now: Instant) {
        let datagram = self.received[slot]
        guard datagram.truncated == 0 else {
            self.stats.invalidDatagrams += 1
            return
        }
        let length = Int(datagram.length)
        let segmentSize = datagram.segment_size == 0 ? length : Int(datagram.segment_size)
        if segmentSize < length {
            self.stats.coalescedReceives += 1
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
        do throws(WireGuardError) {
            let header = try PacketHeader(parsing: self.udpSlots[slot])
            if try self.limiter.check(self.udpSlots[slot], from: datagram.cookieSource, reply: &self.control, now: now)
                == .sendCookieReply
            {
                self.sendControl(to: source)
                return
            }
            let peer: Int
            if header.type == .handshakeInitiation {
                let key = try self.identity.initiatorKey(of: self.udpSlots[slot])
                guard let known = self.peerByKey[key] else {
                    self.stats.unknownPeers += 1
                    return
                }
                peer = known
            } else {
                let index = Int(header.receiverIndex!.peer.rawValue) - 1
                guard self.peers.indices.contains(index) else {
                    self.stats.unknownPeers += 1
                    return
                }
                peer = index
            }
            let result = try self.peers[peer].tunnel.decapsulate(&self.udpSlots[slot], now: now)
            // Authenticated: the peer is where this came from (§2, roaming).
            self.peers[peer].endpoint = source
            switch result {
            case .packet:
                guard let sourceAddress = Self.address(in: self.udpSlots[slot], sourceNotDestination: true),
                    self.peers[peer].allowedIPs.contains(where: { $0.contains(sourceAddress) })
                else {
                    self.stats.packetsFromDisallowedSource += 1
                    return
                }
                self.deliveries.append(self.received[slot].bytes + self.udpSlots[slot].readerIndex)
                self.deliveryLengths.append(UInt32(self.udpSlots[slot].readableBytes))
            case .keepalive:
                break
            case .handshake:
                self.flushControl(peer: peer, now: now)
            }
        } catch {
            self.stats.invalidDatagrams += 1
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

extension ByteBuffer {
    /// Clears the buffer and lets `body` fill its storage from the start; returns what `body` returns.
    fileprivate mutating func withUnsafeMutableWritableBytesAfterClear<R>(_ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        self.clear()
        return self.withUnsafeMutableWritableBytes(body)
    }
}
