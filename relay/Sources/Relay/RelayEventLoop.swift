import LinuxIO
import FirezoneTime
import Glibc
import IPPacket
import Logging
import NIOCore
import RelayCore
import STUN

/// The relay's IO shell: one thread that owns every UDP socket and the ``RelayServer`` core (reference §3.7).
///
/// Each turn of the loop waits on epoll until a socket is readable or the core's next timeout, then for each
/// readable socket receives a batch with recvmmsg(2) into preallocated slots, hands every datagram to the core,
/// and sends what the core forwards with sendmmsg(2), grouped by socket and coalesced per destination with UDP
/// GSO. Sockets receive with UDP GRO, so a burst of one flow arrives as one buffer of equal-sized datagrams,
/// which the loop splits. A peer's datagram becomes channel data by sending the 4-byte header from the outgoing
/// datagram's prefix in front of the payload where it lies: nothing is copied or allocated on the relay path. Commands (responses, ports to open or close) are executed after each
/// batch, timers after each wait.
public final class RelayEventLoop {
    /// Datagrams read per recvmmsg(2): enough to amortise the system call, few enough to keep latency low.
    static let batchSize = 32
    /// Batches read from one ready socket before the loop moves on to the next: a few, to amortise epoll_wait(2)
    /// over 128 datagrams while every ready socket gets its turn.
    static let batchesPerTurn = 4
    /// The largest UDP payload, and the most a GRO receive coalesces (64 KiB).
    static let slotCapacity = 65_536
    /// Datagrams queued before they are sent: a GRO receive holds at most 64 (the kernel's UDP_GRO_CNT_MAX), each
    /// forwarded at most once.
    static let outgoingCapacity = 64

    private var core: RelayServer<SystemRandomNumberGenerator>
    private let configuration: RelayConfiguration
    private let logger: Logger
    private let epoll: Int32
    private let wakeup: Int32
    private let clockOrigin = ContinuousClock.now

    private var listeners: [IPVersion: UDPSocket] = [:]
    private var allocationSockets: [SocketKey: UDPSocket] = [:]

    /// Receive slots, each a buffer of `slotCapacity` bytes whose storage never moves.
    private var slots: [ByteBuffer] = []
    // The per-batch arrays below are allocated once and only their elements change: as `let` pointers they are
    // free of Swift's dynamic exclusivity checks, which cost time on every packet, and an optimised build
    // (Swift 6.3.1) trapped with a false "simultaneous access" on the `received` array these replaced.
    private let slotPointers: UnsafeMutableBufferPointer<UnsafeMutableRawPointer>
    private let received: UnsafeMutableBufferPointer<fz_datagram>
    /// Outgoing datagrams (the first `outgoingCount`) and the socket each leaves from.
    private let outgoing: UnsafeMutableBufferPointer<fz_datagram>
    private let outgoingSockets: UnsafeMutableBufferPointer<Int32>
    private var outgoingCount = 0
    /// Set once a GSO send failed with EIO (no checksum offload on the route); from then on datagrams go one by one.
    private var gsoDisabled: UInt8 = 0
    private let readyTokens: UnsafeMutableBufferPointer<UInt64>

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
        self.core = RelayServer(
            configuration: .init(
                publicIPv4: configuration.publicIPv4,
                publicIPv6: configuration.publicIPv6,
                listenPort: configuration.listenPort,
                allocationPorts: configuration.allocationPorts,
                authSecret: configuration.authSecret,
                software: configuration.software
            ),
            rng: SystemRandomNumberGenerator(),
            now: .zero,
            unixTime: Self.unixTime(),
            logger: logger
        )
        self.epoll = fz_epoll_create()
        guard self.epoll >= 0 else {
            throw SystemCallError(operation: "epoll_create1", errno: -self.epoll)
        }
        self.wakeup = fz_eventfd_create()
        guard self.wakeup >= 0, fz_epoll_add(self.epoll, self.wakeup, SocketKey.wakeupToken) == 0 else {
            throw SystemCallError(operation: "eventfd", errno: -self.wakeup)
        }

        self.received = .allocate(capacity: Self.batchSize)
        self.received.initialize(repeating: fz_datagram())
        self.outgoing = .allocate(capacity: Self.outgoingCapacity)
        self.outgoing.initialize(repeating: fz_datagram())
        self.outgoingSockets = .allocate(capacity: Self.outgoingCapacity)
        self.outgoingSockets.initialize(repeating: -1)
        self.readyTokens = .allocate(capacity: Self.batchSize)
        self.readyTokens.initialize(repeating: 0)
        self.slotPointers = .allocate(capacity: Self.batchSize)
        for index in 0..<Self.batchSize {
            var slot = ByteBufferAllocator().buffer(capacity: Self.slotCapacity)
            slot.writeRepeatingByte(0, count: Self.slotCapacity)
            // The storage is uniquely owned by `slots` and never grows, so its address is stable for our lifetime.
            let pointer = slot.withUnsafeMutableReadableBytes { $0.baseAddress! }
            self.slots.append(slot)
            (self.slotPointers.baseAddress! + index).initialize(to: pointer)
        }

        for family in configuration.families {
            let socket = try UDPSocket(binding: configuration.bindAddress(family), port: configuration.listenPort)
            self.listeners[family] = socket
            _ = fz_epoll_add(self.epoll, socket.fd, SocketKey.listener(family).token)
        }
        self.logger.info(
            "Relay listening",
            metadata: ["listen.port": "\(configuration.listenPort)", "families": "\(configuration.families)"]
        )
    }

    deinit {
        for socket in self.listeners.values {
            socket.close()
        }
        for socket in self.allocationSockets.values {
            socket.close()
        }
        _ = Glibc.close(self.epoll)
        _ = Glibc.close(self.wakeup)
        self.received.deallocate()
        self.outgoing.deallocate()
        self.outgoingSockets.deallocate()
        self.readyTokens.deallocate()
        self.slotPointers.deallocate()
    }

    /// Wakes the loop from another thread, for example to stop it.
    public var wakeupDescriptor: Int32 {
        self.wakeup
    }

    /// Runs until `shouldStop` returns true; it is checked after every wake-up.
    public func run(until shouldStop: () -> Bool) {
        var lastPublished = ContinuousClock.now
        while !shouldStop() {
            let now = self.now()
            let timeout = self.core.pollTimeout()
            // Wake at least once a second to publish stats and notice a stop request.
            var waitMilliseconds: Int32 = 1000
            if let timeout {
                let remaining = timeout.deadline - now
                waitMilliseconds = Int32(clamping: max(0, min(1000, (remaining.nanoseconds + 999_999) / 1_000_000)))
            }
            let ready = fz_epoll_wait(self.epoll, self.readyTokens.baseAddress, UInt32(Self.batchSize), waitMilliseconds)
            if ready > 0 {
                for index in 0..<Int(ready) {
                    self.service(SocketKey(token: self.readyTokens[index]))
                }
            }

            let after = self.now()
            if let timeout = self.core.pollTimeout(), timeout.deadline <= after {
                self.core.handleTimeout(now: after)
                self.executeCommands()
            }
            if ContinuousClock.now - lastPublished >= .seconds(1) {
                self.core.handleWallClock(unixTime: Self.unixTime(), now: self.now())
                self.publishStats()
                lastPublished = ContinuousClock.now
            }
        }
        self.publishStats()
        self.logger.info("Relay stopped")
    }

    private func publishStats() {
        self.statsPublisher.publish(self.core.stats)
        if let offload = self.offload, let counters = offload.counters() {
            self.statsPublisher.publish(counters, mapMemoryBytes: offload.mapMemoryBytes, failedInserts: offload.failedInserts)
        }
    }

    private func service(_ key: SocketKey) {
        switch key {
        case .wakeup:
            fz_eventfd_drain(self.wakeup)
        case .listener(let family):
            guard let socket = self.listeners[family] else { return }
            self.receive(from: socket, allocationPort: nil)
        case .allocation(let port, _):
            guard let socket = self.allocationSockets[key] else { return }
            self.receive(from: socket, allocationPort: AllocationPort(port))
        }
    }

    /// Reads a bounded number of batches from one socket, relaying as the core says. epoll is level-triggered, so
    /// a socket with more waiting is reported again on the next turn: a flood on one socket cannot starve the
    /// others. An allocation port carries one allocation's peers and gets `batchesPerTurn`; the listening port
    /// carries every client and gets that much per allocation, so that each allocation's two directions get
    /// about the same share.
    private func receive(from socket: UDPSocket, allocationPort: AllocationPort?) {
        let batches = allocationPort == nil ? Self.batchesPerTurn * max(1, self.allocationSockets.count) : Self.batchesPerTurn
        for _ in 0..<batches {
            for index in 0..<Self.batchSize {
                self.received[index].bytes = self.slotPointers[index].assumingMemoryBound(to: UInt8.self)
                self.received[index].capacity = UInt32(Self.slotCapacity)
            }
            let count = fz_udp_receive_batch(socket.fd, self.received.baseAddress, UInt32(Self.batchSize))
            guard count > 0 else {
                if count < 0 {
                    self.logger.warning("Receive failed", metadata: ["error": "\(SystemCallError(operation: "recvmmsg", errno: -count))"])
                }
                return
            }
            let now = self.now()
            for index in 0..<Int(count) where self.received[index].truncated == 0 {
                let length = Int(self.received[index].length)
                let source = self.received[index].socketAddress
                // A GRO receive: equal-sized datagrams back to back, the last possibly shorter, all from one
                // sender, so their forwards mostly share a destination: they are flushed on their own, keeping that
                // run together for one GSO send.
                let segmentSize = self.received[index].segment_size > 0 ? Int(self.received[index].segment_size) : length
                if segmentSize < length || self.outgoingCount == Self.outgoingCapacity {
                    self.flushOutgoing()
                }
                var offset = 0
                repeat {
                    let segment = min(segmentSize, length - offset)
                    if let allocationPort {
                        self.handlePeerDatagram(slot: index, offset: offset, length: segment, from: PeerSocket(source), to: allocationPort, now: now)
                    } else {
                        self.handleClientDatagram(slot: index, offset: offset, length: segment, from: ClientSocket(source), now: now)
                    }
                    offset += segment
                } while offset < length
                if segmentSize < length {
                    self.flushOutgoing()
                }
            }
            self.flushOutgoing()
            self.executeCommands()
            if count < Self.batchSize {
                return
            }
        }
    }

    private func handleClientDatagram(slot: Int, offset: Int, length: Int, from client: ClientSocket, now: Instant) {
        var datagram = self.slots[slot]
        datagram.moveReaderIndex(to: 0)
        datagram.moveWriterIndex(to: offset + length)
        datagram.moveReaderIndex(to: offset)
        switch self.core.handleClientInput(datagram, from: client, now: now) {
        case .forward(let payload, let port, let peer):
            guard let socket = self.allocationSockets[.allocation(port.value, peer.address.address.version)] else {
                return
            }
            // The payload follows the channel data header; a slice's own indices start at zero, so the offset is
            // fixed rather than read from it.
            var out = fz_datagram()
            out.bytes = self.slotPointers[slot].advanced(by: offset + ChannelData.headerLength)
                .assumingMemoryBound(to: UInt8.self)
            out.length = UInt32(payload.readableBytes)
            out.setDestination(peer.address)
            self.queue(out, on: socket.fd)
        case .handled, .dropped:
            break
        }
    }

    private func handlePeerDatagram(
        slot: Int, offset: Int, length: Int, from peer: PeerSocket, to port: AllocationPort, now: Instant
    ) {
        switch self.core.handlePeerInput(length: length, from: peer, to: port, now: now) {
        case .forward(let client, let channel):
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
            out.bytes = self.slotPointers[slot].advanced(by: offset).assumingMemoryBound(to: UInt8.self)
            out.length = UInt32(length)
            out.setDestination(client.address)
            self.queue(out, on: socket.fd)
        case .dropped:
            break
        }
    }

    /// Queues a datagram of the current batch for `flushOutgoing`.
    private func queue(_ datagram: fz_datagram, on fd: Int32) {
        precondition(self.outgoingCount < Self.outgoingCapacity, "flushed before a receive could overflow the queue")
        self.outgoing[self.outgoingCount] = datagram
        self.outgoingSockets[self.outgoingCount] = fd
        self.outgoingCount += 1
    }

    /// Sends the batch's datagrams, one sendmmsg(2) per run of the same socket, in which datagrams to the same
    /// destination go as one UDP GSO send. Sorting by socket first is an insertion sort: small, in place, and
    /// allocation-free (`Array.sort` may allocate its merge buffer).
    private func flushOutgoing() {
        let count = self.outgoingCount
        guard count > 0 else { return }
        var index = 1
        while index < count {
            var position = index
            while position > 0, self.outgoingSockets[position - 1] > self.outgoingSockets[position] {
                self.outgoingSockets.swapAt(position - 1, position)
                self.outgoing.swapAt(position - 1, position)
                position -= 1
            }
            index += 1
        }
        var start = 0
        while start < count {
            var end = start + 1
            while end < count, self.outgoingSockets[end] == self.outgoingSockets[start] {
                end += 1
            }
            var failed: UInt32 = 0
            let fd = self.outgoingSockets[start]
            let sent = fz_udp_send_coalesced(
                fd, self.outgoing.baseAddress! + start, UInt32(end - start), &failed, &self.gsoDisabled
            )
            if sent < end - start {
                self.logger.debug("Send dropped datagrams", metadata: ["dropped": "\(end - start - Int(max(sent, 0)))"])
            }
            start = end
        }
        self.outgoingCount = 0
    }

    private func executeCommands() {
        while let command = self.core.pollCommand() {
            switch command {
            case .sendMessage(let message, let client):
                guard let socket = self.listeners[client.address.address.version] else { continue }
                message.withUnsafeReadableBytes { bytes in
                    var out = fz_datagram()
                    out.bytes = UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    out.length = UInt32(bytes.count)
                    out.setDestination(client.address)
                    var failed: UInt32 = 0
                    _ = fz_udp_send_batch(socket.fd, &out, 1, &failed)
                }
            case .createAllocation(let port, let family):
                do {
                    let socket = try UDPSocket(binding: self.configuration.bindAddress(family), port: port.value)
                    let key = SocketKey.allocation(port.value, family)
                    self.allocationSockets[key] = socket
                    _ = fz_epoll_add(self.epoll, socket.fd, key.token)
                    self.core.handleAllocationPortOpened(port, family, now: self.now())
                } catch {
                    self.logger.warning("Cannot open an allocation port", metadata: ["error": "\(error)"])
                    self.core.handleAllocationPortFailed(port, family, now: self.now())
                }
            case .freeAllocation(let port, let family):
                if let socket = self.allocationSockets.removeValue(forKey: .allocation(port.value, family)) {
                    _ = fz_epoll_remove(self.epoll, socket.fd)
                    socket.close()
                }
            case .createChannelBinding, .deleteChannelBinding:
                // Only the XDP datapath mirrors bindings; the userspace path asks the core per packet.
                self.offload?.mirror(command)
            }
        }
    }

    private func now() -> Instant {
        Instant(nanoseconds: UInt64((ContinuousClock.now - self.clockOrigin).nanoseconds))
    }

    static func unixTime() -> Duration {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
    }
}

/// What an epoll token stands for.
enum SocketKey: Hashable {
    case wakeup
    case listener(IPVersion)
    case allocation(UInt16, IPVersion)

    static let wakeupToken: UInt64 = 1 << 40

    var token: UInt64 {
        switch self {
        case .wakeup: Self.wakeupToken
        case .listener(let family): 1 << 32 | UInt64(family.rawValue) << 16
        case .allocation(let port, let family): 2 << 32 | UInt64(family.rawValue) << 16 | UInt64(port)
        }
    }

    init(token: UInt64) {
        let family: IPVersion = (token >> 16) & 0xFF == 6 ? .v6 : .v4
        switch token >> 32 {
        case 1: self = .listener(family)
        case 2: self = .allocation(UInt16(truncatingIfNeeded: token), family)
        default: self = .wakeup
        }
    }
}
