import FirezoneTime
import Glibc
import IPPacket
import LinuxIO
import Logging
import NIOCore
import RelayCore
import STUN

/// The relay's IO shell: one thread that owns every UDP socket and the ``RelayServer`` core (as Firezone's rust/relay/server/src/main.rs),
/// running on an ``EventLoopDriver``.
///
/// The driver receives batches from the listening and allocation sockets (UDP GRO runs split), hands every datagram
/// to the core, and sends what the core forwards grouped by socket and coalesced per destination with UDP GSO. A
/// peer's datagram becomes channel data by sending the 4-byte header from the outgoing datagram's prefix in front of
/// the payload where it lies: nothing is copied or allocated on the relay path. Commands (responses, ports to open
/// or close) are executed after each batch, timers (the core's, and publishing stats once a second) when due.
public final class RelayEventLoop {
    /// How often stats are published.
    static let statsInterval = Duration.seconds(1)

    private var core: RelayServer<SystemRandomNumberGenerator>
    private let configuration: RelayConfiguration
    private let logger: Logger
    private let driver: EventLoopDriver
    private var nextStatsPublication: Instant

    /// The address each family's sockets bind to (``socketAddress(_:family:)``).
    private var socketAddresses: [IPVersion: IPAddress] = [:]
    private var listeners: [IPVersion: UDPSocket] = [:]
    private var allocationSockets: [SocketKey: (socket: UDPSocket, registration: EventLoopDriver.Registration)] = [:]

    private let statsPublisher: RelayStatsPublisher
    /// The XDP fast path, if attached: it mirrors channel bindings and reports its own counters.
    private let offload: XDPOffload?

    public init(
        configuration: RelayConfiguration,
        offload: XDPOffload? = nil,
        statsPublisher: RelayStatsPublisher,
        logger: Logger
    ) throws(SystemCallError) {
        self.configuration = configuration
        self.offload = offload
        self.logger = logger
        self.statsPublisher = statsPublisher
        self.driver = try EventLoopDriver()
        let now = self.driver.clock.now()
        self.nextStatsPublication = now + Self.statsInterval
        self.core = RelayServer(
            configuration: .init(
                publicIPv4: configuration.publicIPv4,
                publicIPv6: configuration.publicIPv6,
                listenPort: configuration.listenPort,
                allocationPorts: configuration.allocationPorts,
                authSecret: configuration.authSecret,
                software: configuration.software,
                mode: configuration.mode,
                limits: configuration.limits,
                deniedPeerRanges: configuration.deniedPeerRanges
            ),
            rng: SystemRandomNumberGenerator(),
            now: now,
            unixTime: self.driver.clock.unixTime(),
            logger: logger
        )

        for family in configuration.families {
            let address = Self.socketAddress(configuration, family: family)
            self.socketAddresses[family] = address
            let socket = try UDPSocket(binding: address, port: configuration.listenPort)
            self.listeners[family] = socket
            try self.driver.register(udp: socket.fd, token: SocketKey.listener(family).token)
        }
        self.logger.info(
            "Relay listening",
            metadata: [
                "listen.port": "\(configuration.listenPort)", "families": "\(configuration.families)",
                "bound": "\(configuration.families.compactMap { self.socketAddresses[$0] })",
            ]
        )
    }

    deinit {
        for socket in self.listeners.values {
            socket.close()
        }
        for (socket, _) in self.allocationSockets.values {
            socket.close()
        }
    }

    /// Wakes the loop from another thread, for example to stop it.
    public var wakeupDescriptor: Int32 {
        self.driver.wakeupDescriptor
    }

    /// Runs until `shouldStop` returns true; it is checked after every wake-up.
    public func run(until shouldStop: () -> Bool) {
        do {
            try self.driver.run(self, until: shouldStop)
        } catch {
            self.logger.error("Event loop failed", metadata: ["error": "\(error)"])
        }
        self.publishStats()
        self.logger.info("Relay stopped")
    }

    private func publishStats() {
        self.statsPublisher.publish(self.core.stats)
        if let offload = self.offload, let counters = offload.counters() {
            self.statsPublisher.publish(
                counters,
                mapMemoryBytes: offload.mapMemoryBytes,
                failedInserts: offload.failedInserts
            )
        }
    }

    /// `local` is the address the datagram was sent to when the socket is bound to the wildcard address: whatever
    /// the relay sends because of it leaves from there (``source(_:toward:)``).
    private func handleClientDatagram(
        _ datagram: ByteBuffer,
        storage: UnsafeMutablePointer<UInt8>,
        from client: ClientSocket,
        to local: IPAddress?,
        now: Instant
    ) {
        // STUN (first byte 0–3, RFC 7983 §7) may carry credentials, whose expiry is checked against the wall clock
        // as it is when the message arrives. Channel data, the hot path, never reads it.
        let isSTUN = datagram.readableBytesView.first.map({ $0 < 4 }) ?? false
        if isSTUN {
            self.core.handleWallClock(unixTime: self.driver.clock.unixTime(), now: now)
        }
        defer {
            if isSTUN {
                // Answered now, while it is known which address the request came to; only a request makes the core
                // queue a response, so every response queued is this request's.
                self.executeCommands(answeringFrom: local)
            }
        }
        switch self.core.handleClientInput(datagram, from: client, now: now) {
        case .forward(let payload, let port, let peer):
            guard let socket = self.allocationSockets[.allocation(port, peer.address.address.version)]?.socket
            else {
                return
            }
            // The payload follows the channel data header; a slice's own indices start at zero, so the offset is
            // fixed rather than read from it.
            var out = fz_datagram()
            out.bytes = storage + datagram.readerIndex + ChannelData.headerLength
            out.length = UInt32(payload.readableBytes)
            out.setDestination(peer.address)
            out.localAddress = Self.source(local, toward: peer.address)
            self.driver.queueSend(out, on: socket.fd)
        case .loopBack(let payload, let client, let channel):
            self.queueChannelData(
                storage + datagram.readerIndex + ChannelData.headerLength,
                length: payload.readableBytes,
                channel: channel,
                to: client,
                local: local
            )
        case .handled, .dropped:
            break
        }
    }

    private func handlePeerDatagram(
        _ datagram: ByteBuffer,
        storage: UnsafeMutablePointer<UInt8>,
        from peer: PeerSocket,
        to port: AllocationPort,
        local: IPAddress?,
        now: Instant
    ) {
        let length = datagram.readableBytes
        switch self.core.handlePeerInput(length: length, from: peer, to: port, now: now) {
        case .forward(let client, let channel):
            self.queueChannelData(
                storage + datagram.readerIndex,
                length: length,
                channel: channel,
                to: client,
                local: local
            )
        case .dropped:
            break
        }
    }

    /// Queues `length` bytes at `bytes` as channel data on `channel` to `client`, from the listening port.
    private func queueChannelData(
        _ bytes: UnsafeMutablePointer<UInt8>,
        length: Int,
        channel: ChannelNumber,
        to client: ClientSocket,
        local: IPAddress?
    ) {
        guard let socket = self.listeners[client.address.address.version] else {
            return
        }
        // RFC 8656 §12.4: channel number, then the length of the application data, in front of it.
        var out = fz_datagram()
        out.prefix_length = UInt8(ChannelData.headerLength)
        withUnsafeMutableBytes(of: &out.prefix) { header in
            header.storeBytes(of: channel.value.bigEndian, as: UInt16.self)
            header.storeBytes(of: UInt16(length).bigEndian, toByteOffset: 2, as: UInt16.self)
        }
        out.bytes = bytes
        out.length = UInt32(length)
        out.setDestination(client.address)
        out.localAddress = Self.source(local, toward: client.address)
        self.driver.queueSend(out, on: socket.fd)
    }

    /// The public address when it is one of this host's and no bind address was given, else the bind address.
    ///
    /// Clients match answers and relayed data by the server's transport address, which is part of the 5-tuple an
    /// allocation is known by (RFC 8656 §2), so replies must leave from the address the requests were sent to. A
    /// wildcard-bound socket leaves the source to the route back: on a host with more than one interface, a request
    /// to the public address that arrived on another interface is answered from that interface's address, and the
    /// client drops the answer as coming from a stranger. A public address that is not local (a cloud's 1:1 NAT in
    /// front of the relay) keeps the wildcard, and answers leave from the address each request arrived on
    /// (``source(_:toward:)``).
    private static func socketAddress(_ configuration: RelayConfiguration, family: IPVersion) -> IPAddress {
        let bindAddress = configuration.bindAddress(family)
        let publicAddress: IPAddress? =
            switch family {
            case .v4: configuration.publicIPv4.map { .v4($0) }
            case .v6: configuration.publicIPv6.map { .v6($0) }
            }
        guard bindAddress == .v4(.any) || bindAddress == .v6(.unspecified), let publicAddress else {
            return bindAddress
        }
        let probe = bindUDP(publicAddress, port: 0, receiveBuffer: 0, sendBuffer: 0)
        guard probe >= 0 else {
            return bindAddress
        }
        _ = Glibc.close(probe)
        return publicAddress
    }

    private func openAllocationSocket(port: AllocationPort, family: IPVersion) throws(SystemCallError) {
        let address = self.socketAddresses[family] ?? self.configuration.bindAddress(family)
        let socket = try UDPSocket(binding: address, port: port.value)
        let key = SocketKey.allocation(port, family)
        do {
            let registration = try self.driver.register(udp: socket.fd, token: key.token)
            self.allocationSockets[key] = (socket, registration)
        } catch {
            socket.close()
            throw error
        }
    }

    /// The source of a datagram to `destination` sent because of one that arrived on `local`: that address, when
    /// the socket is bound to the wildcard address and the families match; otherwise none, and the route picks.
    ///
    /// A relay behind a 1:1 NAT, or with several addresses, answers from the address a client or peer talks to
    /// (RFC 8656 §2: the allocation is known by the server's transport address as part of its 5-tuple); a route
    /// toward the client may prefer another of the host's addresses, whose datagrams the NAT does not translate
    /// back and the client drops as coming from a stranger. Across families there is no such address: those
    /// datagrams leave from the address the route picks.
    static func source(_ local: IPAddress?, toward destination: IPSocketAddress) -> IPAddress? {
        guard let local, local.version == destination.address.version else {
            return nil
        }
        return local
    }

    /// Executes the core's commands; responses leave from `answeringFrom` (``source(_:toward:)``), the address
    /// the request they answer arrived on.
    private func executeCommands(answeringFrom local: IPAddress? = nil) {
        while let command = self.core.pollCommand() {
            switch command {
            case .sendMessage(let message, let client):
                guard let socket = self.listeners[client.address.address.version] else { continue }
                message.withUnsafeReadableBytes { bytes in
                    var out = fz_datagram()
                    out.bytes = UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    out.length = UInt32(bytes.count)
                    out.setDestination(client.address)
                    out.localAddress = Self.source(local, toward: client.address)
                    var failed: UInt32 = 0
                    _ = fz_udp_send_batch(socket.fd, &out, 1, &failed)
                }
            case .createAllocation(let port, let family):
                do {
                    try self.openAllocationSocket(port: port, family: family)
                    self.core.handleAllocationPortOpened(port, family, now: self.driver.clock.now())
                } catch {
                    self.logger.warning("Cannot open an allocation port", metadata: ["error": "\(error)"])
                    self.core.handleAllocationPortFailed(port, family, now: self.driver.clock.now())
                }
            case .freeAllocation(let port, let family):
                let key = SocketKey.allocation(port, family)
                if let (socket, registration) = self.allocationSockets.removeValue(forKey: key) {
                    self.driver.unregister(registration)
                    socket.close()
                }
            case .createChannelBinding, .refreshChannelBinding, .deleteChannelBinding:
                // Only the XDP datapath mirrors bindings; the userspace path asks the core per packet.
                self.offload?.mirror(command)
            }
        }
    }

}

extension RelayEventLoop: EventLoopHandler {
    public func nextDeadline() -> Instant? {
        guard let timeout = self.core.pollTimeout() else {
            return self.nextStatsPublication
        }
        return min(timeout.deadline, self.nextStatsPublication)
    }

    public func handleTimeout(now: Instant) {
        if let timeout = self.core.pollTimeout(), timeout.deadline <= now {
            self.core.handleTimeout(now: now)
            self.executeCommands()
        }
        if self.nextStatsPublication <= now {
            self.publishStats()
            self.nextStatsPublication = now + Self.statsInterval
        }
    }

    public func handleDatagram(_ datagram: inout ByteBuffer, received: fz_datagram, source: UInt64, now: Instant) {
        let storage = received.bytes!
        switch SocketKey(token: source) {
        case .listener:
            self.handleClientDatagram(
                datagram,
                storage: storage,
                from: ClientSocket(received.socketAddress),
                to: received.localAddress,
                now: now
            )
        case .allocation(let port, _):
            self.handlePeerDatagram(
                datagram,
                storage: storage,
                from: PeerSocket(received.socketAddress),
                to: port,
                local: received.localAddress,
                now: now
            )
        }
    }

    public func didFinishBatch(source: UInt64, now: Instant) {
        self.executeCommands()
    }

    /// An allocation port carries one allocation's peers and gets the driver's share; the listening port carries
    /// every client and gets that much per allocation, so that each allocation's two directions get about the
    /// same share.
    public func batchesPerTurn(source: UInt64) -> Int {
        switch SocketKey(token: source) {
        case .listener:
            EventLoopDriver.batchesPerTurn * max(1, self.allocationSockets.count)
        case .allocation:
            EventLoopDriver.batchesPerTurn
        }
    }
}

/// What a driver token stands for.
enum SocketKey: Hashable {
    case listener(IPVersion)
    case allocation(AllocationPort, IPVersion)

    var token: UInt64 {
        switch self {
        case .listener(let family): 1 << 32 | UInt64(family.rawValue) << 16
        case .allocation(let port, let family): 2 << 32 | UInt64(family.rawValue) << 16 | UInt64(port.value)
        }
    }

    init(token: UInt64) {
        let family: IPVersion = (token >> 16) & 0xFF == 6 ? .v6 : .v4
        if token >> 32 == 1 {
            self = .listener(family)
        } else {
            self = .allocation(AllocationPort(UInt16(truncatingIfNeeded: token)), family)
        }
    }
}
