import FirezoneTime
import Glibc
import NIOCore

/// The batched event loop every IO shell runs on: one thread, one epoll set, and preallocated buffers.
///
/// A shell registers its descriptors (UDP sockets, a TUN device, any other readable descriptor) with tokens of its
/// choosing, then calls ``run(_:until:)`` with an ``EventLoopHandler``. Each turn waits on epoll until a source is
/// readable, the handler's next deadline passes, or another thread wakes the loop; then, for each ready source:
///
/// - UDP: up to ``batchSize`` datagrams per recvmmsg(2) into fixed receive slots; a UDP GRO receive (equal-sized
///   datagrams back to back, the last possibly shorter) is split, and the handler sees each datagram;
/// - TUN: up to ``TUNLayout/superPacketsPerBatch`` reads, each TCP or UDP super-packet cut into MTU-sized packets
///   in a fixed region, each with room to be sealed in place;
/// - after each batch, the datagrams the handler queued with ``queueSend(_:on:)`` leave with one sendmmsg(2) per
///   socket, runs of equal-sized datagrams from one source to one destination as UDP GSO sends (a datagram's
///   `localAddress`, when set, is its source: IP_PKTINFO), and the packets queued with
///   ``queueTUNWrite(_:length:)`` are written with consecutive packets of a TCP or UDP flow coalesced, as far as
///   the device's offloads (``tunOffloads``) allow.
///
/// A source gets at most ``EventLoopHandler/batchesPerTurn(source:)`` batches per turn, and timers run at the end
/// of every turn, so a flood on one source delays the others and the timers by a bounded amount of work. Nothing is
/// allocated per datagram or packet.
public final class EventLoopDriver {
    /// Datagrams per recvmmsg(2): enough to amortise the system call, few enough to keep latency low.
    public static let batchSize = 32
    /// Batches one ready source delivers per turn before the loop moves on. epoll is level-triggered, so a source
    /// with more waiting is reported again on the next turn; four batches (128 datagrams) amortise epoll_wait(2)
    /// while bounding how long a flooded source keeps the others and the timers waiting to one 128-datagram slice
    /// each.
    public static let batchesPerTurn = 4
    /// The largest UDP payload and the most a GRO receive coalesces (64 KiB), plus room for a shell that grows a
    /// datagram in place by a header or tag (WireGuard's transport overhead is 32 bytes).
    public static let receiveSlotCapacity = 65_536 + 64
    /// Datagrams queued before they are sent: one GRO receive's worth (the kernel's UDP_GRO_CNT_MAX is 64) for each
    /// of two TCP super-packets from the TUN device (64 KiB in segments of about 1,240 bytes at connlib's MTU of
    /// 1,280). A full queue is sent on the spot, as within a UDP super-packet of more datagrams.
    public static let sendCapacity = 128
    /// The longest epoll wait. epoll_wait(2) counts CLOCK_MONOTONIC, which stops while the machine is suspended,
    /// but deadlines are CLOCK_BOOTTIME (``ShellClock``): a wait begun before a suspend runs on after the resume
    /// for whatever was left of it. Capping each wait at a second bounds how late a timer fires after a resume; an
    /// idle loop that wakes once a second costs nothing measurable.
    public static let longestWait = Duration.seconds(1)

    /// Where a TUN device's packets are placed in their region, so that a shell can seal them in place.
    public struct TUNLayout: Sendable {
        /// Bytes in front of each packet (WireGuard: the 16-byte transport header).
        public var headroom: Int
        /// Each packet has room to grow to a multiple of this (WireGuard: 16-byte padding).
        public var paddingMultiple: Int
        /// Bytes behind the padded packet (WireGuard: the 16-byte tag).
        public var tailroom: Int
        /// Super-packets read per batch, and so regions: one or two, since the send queue (``sendCapacity``) holds
        /// the segments of two.
        public var superPacketsPerBatch: Int

        public init(headroom: Int, paddingMultiple: Int, tailroom: Int, superPacketsPerBatch: Int = 2) {
            self.headroom = headroom
            self.paddingMultiple = max(1, paddingMultiple)
            self.tailroom = tailroom
            self.superPacketsPerBatch = max(1, min(superPacketsPerBatch, 2))
        }
    }

    /// A registered descriptor, for ``unregister(_:)``.
    public struct Registration: Hashable, Sendable {
        fileprivate let index: UInt32
        fileprivate let generation: UInt32

        fileprivate var epollData: UInt64 {
            UInt64(self.generation) << 32 | UInt64(self.index)
        }
    }

    /// Wakes the loop from any thread (or a signal handler: one write(2) to an eventfd).
    public struct Waker: Sendable {
        public let descriptor: Int32

        public func wake() {
            fz_eventfd_signal(self.descriptor)
        }
    }

    /// Work the driver dropped or did on the shell's behalf, for the shell's own counters.
    public struct Counters: Sendable, Equatable {
        /// Receives longer than a slot; the kernel cut them off and they were dropped.
        public var truncatedDatagrams: UInt64 = 0
        /// Receives that UDP GRO coalesced from several datagrams (not a drop).
        public var coalescedReceives: UInt64 = 0
        /// recvmmsg(2) or a TUN read failed with an error other than "nothing waiting".
        public var receiveErrors: UInt64 = 0
        /// Queued datagrams the kernel did not take (buffer full, destination refused).
        public var datagramsNotSent: UInt64 = 0
        /// TUN packets the kernel handed over that could not be cut into segments.
        public var unsegmentablePackets: UInt64 = 0
        /// Packets queued for the TUN device that it did not take (every packet of a coalesced write that failed).
        public var tunWriteFailures: UInt64 = 0
        /// Coalesced writes the TUN device took (not a drop).
        public var tunSuperPacketsWritten: UInt64 = 0
        /// Coalesced writes the TUN device refused with EINVAL; their packets were written one by one, and that kind
        /// of coalescing is off for the device from then on (not a drop).
        public var tunSuperPacketsRefused: UInt64 = 0
        /// Turns that a ``Waker`` ended (not a drop).
        public var wakeups: UInt64 = 0
        /// Receive slots or TUN regions a handler left holding other storage (it wrote to a buffer it did not own
        /// alone, and the write copied it): the driver allocated a new one, and the rest of that receive or
        /// super-packet was dropped. A handler that seals and opens in place never causes one.
        public var replacedBuffers: UInt64 = 0
    }

    private enum Kind {
        case udp
        case tun
        case readable
        case wakeup
        case signal
    }

    private struct Source {
        var fd: Int32
        var kind: Kind
        var token: UInt64
        var generation: UInt32
        var active: Bool
    }

    public let clock: ShellClock
    public private(set) var counters = Counters()
    /// Set once SIGINT or SIGTERM arrived on the termination signalfd; ``run(_:until:)`` then returns.
    public private(set) var receivedTerminationSignal = false

    private let epoll: Int32
    private let wakeup: Int32
    private var sources: [Source] = []
    private var freeIndices: [UInt32] = []

    // The per-batch storage below is allocated once and only its elements change. As `let` pointers they are free
    // of Swift's dynamic exclusivity checks, which cost time on every packet; an optimised build (Swift 6.3.1)
    // trapped with a false "simultaneous access" on an array property used this way.
    private let readyTokens: UnsafeMutableBufferPointer<UInt64>
    /// Receive slots: buffers of `receiveSlotCapacity` bytes whose storage never moves (uniquely owned, never grown).
    private let slots: UnsafeMutableBufferPointer<ByteBuffer>
    private let received: UnsafeMutableBufferPointer<fz_datagram>
    /// Queued datagrams (the first `sendCount`) and the socket each leaves from.
    private let outgoing: UnsafeMutableBufferPointer<fz_datagram>
    private let outgoingSockets: UnsafeMutableBufferPointer<Int32>
    private var sendCount = 0
    /// Set once a GSO send failed with EIO (no checksum offload on the route); from then on datagrams go one by one.
    private var gsoDisabled: UInt8 = 0

    private var tun: TUNBuffers?

    /// Makes the epoll set and its wake-up eventfd; with `terminationSignals`, SIGINT and SIGTERM are blocked for
    /// this thread (and threads it creates later) and delivered to the loop through a signalfd instead.
    public init(clock: ShellClock = ShellClock(), terminationSignals: Bool = false) throws(SystemCallError) {
        self.clock = clock
        let epoll = fz_epoll_create()
        guard epoll >= 0 else {
            throw SystemCallError(operation: "epoll_create1", errno: -epoll)
        }
        let wakeup = fz_eventfd_create()
        guard wakeup >= 0 else {
            _ = Glibc.close(epoll)
            throw SystemCallError(operation: "eventfd", errno: -wakeup)
        }
        self.epoll = epoll
        self.wakeup = wakeup
        self.readyTokens = .allocate(capacity: Int(FZ_MAX_EPOLL_EVENTS))
        self.readyTokens.initialize(repeating: 0)
        self.received = .allocate(capacity: Self.batchSize)
        self.received.initialize(repeating: fz_datagram())
        self.slots = .allocate(capacity: Self.batchSize)
        for index in 0..<Self.batchSize {
            var slot = ByteBufferAllocator().buffer(capacity: Self.receiveSlotCapacity)
            slot.writeRepeatingByte(0, count: Self.receiveSlotCapacity)
            // recvmmsg(2) fills in length and address; where and how much it may write never changes.
            self.received[index].bytes = slot.withUnsafeMutableReadableBytes {
                $0.baseAddress!.assumingMemoryBound(to: UInt8.self)
            }
            self.received[index].capacity = UInt32(Self.receiveSlotCapacity)
            (self.slots.baseAddress! + index).initialize(to: slot)
        }
        self.outgoing = .allocate(capacity: Self.sendCapacity)
        self.outgoing.initialize(repeating: fz_datagram())
        self.outgoingSockets = .allocate(capacity: Self.sendCapacity)
        self.outgoingSockets.initialize(repeating: -1)

        try self.add(fd: wakeup, kind: .wakeup, token: 0)
        if terminationSignals {
            let signals = fz_termination_signalfd()
            guard signals >= 0 else {
                throw SystemCallError(operation: "signalfd", errno: -signals)
            }
            try self.add(fd: signals, kind: .signal, token: 0)
        }
    }

    deinit {
        for source in self.sources where source.active && (source.kind == .wakeup || source.kind == .signal) {
            _ = Glibc.close(source.fd)
        }
        _ = Glibc.close(self.epoll)
        self.readyTokens.deallocate()
        self.received.deallocate()
        _ = self.slots.deinitialize()
        self.slots.deallocate()
        self.outgoing.deallocate()
        self.outgoingSockets.deallocate()
    }

    public var waker: Waker {
        Waker(descriptor: self.wakeup)
    }

    /// The eventfd that wakes the loop: one write(2) of a non-zero 8-byte count.
    public var wakeupDescriptor: Int32 {
        self.wakeup
    }

    // MARK: Sources

    /// Receives from the non-blocking UDP socket `fd` in batches. The shell keeps owning (and closes) the socket.
    @discardableResult
    public func register(udp fd: Int32, token: UInt64) throws(SystemCallError) -> Registration {
        try self.add(fd: fd, kind: .udp, token: token)
    }

    /// Reads the non-blocking offload TUN device `fd` (`fz_tun_open_offload`), placing packets as `layout` says, and
    /// writes to it with packets coalesced as its offloads allow. One TUN device per driver.
    ///
    /// `offloads` are the device's offloads when something else set them; without, the driver turns on the most
    /// the kernel accepts (``TUNOffloads/negotiate(fd:offering:)``). ``tunOffloads`` tells which, for the shell's
    /// log.
    @discardableResult
    public func register(
        tun fd: Int32,
        token: UInt64,
        layout: TUNLayout,
        offloads: TUNOffloads? = nil
    ) throws(SystemCallError) -> Registration {
        guard self.tun == nil else {
            throw SystemCallError(operation: "register a second TUN device", errno: EEXIST)
        }
        let taken: TUNOffloads
        if let offloads {
            taken = offloads
        } else {
            taken = try TUNOffloads.negotiate(fd: fd)
        }
        let registration = try self.add(fd: fd, kind: .tun, token: token)
        self.tun = TUNBuffers(fd: fd, layout: layout, offloads: taken)
        return registration
    }

    /// The offloads of the registered TUN device, or nil without one.
    public var tunOffloads: TUNOffloads? {
        self.tun?.offloads
    }

    /// The offloads the driver still coalesces writes for: the device's TCP and UDP segmentation, less a kind the
    /// kernel refused a coalesced write of. Empty without a TUN device.
    public var tunWriteCoalescing: TUNOffloads {
        guard let tun = self.tun else {
            return []
        }
        var coalescing: TUNOffloads = []
        if tun.coalescing.tcp != 0 {
            coalescing.insert(.tcpSegmentation)
        }
        if tun.coalescing.udp != 0 {
            coalescing.insert(.udpSegmentation)
        }
        return coalescing
    }

    /// Calls ``EventLoopHandler/handleReadable(source:now:)`` whenever `fd` is readable.
    @discardableResult
    public func register(readable fd: Int32, token: UInt64) throws(SystemCallError) -> Registration {
        try self.add(fd: fd, kind: .readable, token: token)
    }

    /// Stops watching a descriptor; events already reported for it in this turn are ignored. The shell closes it.
    public func unregister(_ registration: Registration) {
        let index = Int(registration.index)
        guard self.sources.indices.contains(index), self.sources[index].active,
            self.sources[index].generation == registration.generation
        else {
            return
        }
        _ = fz_epoll_remove(self.epoll, self.sources[index].fd)
        if self.sources[index].kind == .tun {
            self.tun = nil
        }
        self.sources[index].active = false
        self.freeIndices.append(registration.index)
    }

    private func add(fd: Int32, kind: Kind, token: UInt64) throws(SystemCallError) -> Registration {
        let index: UInt32
        let generation: UInt32
        if let free = self.freeIndices.popLast() {
            index = free
            generation = self.sources[Int(free)].generation &+ 1
            self.sources[Int(free)] = Source(fd: fd, kind: kind, token: token, generation: generation, active: true)
        } else {
            index = UInt32(self.sources.count)
            generation = 0
            self.sources.append(Source(fd: fd, kind: kind, token: token, generation: generation, active: true))
        }
        let registration = Registration(index: index, generation: generation)
        let result = fz_epoll_add(self.epoll, fd, registration.epollData)
        guard result == 0 else {
            self.sources[Int(index)].active = false
            self.freeIndices.append(index)
            throw SystemCallError(operation: "epoll_ctl add descriptor \(fd)", errno: -result)
        }
        return registration
    }

    // MARK: Running

    /// Runs turns until `shouldStop` returns true (checked before every turn: wake the loop after setting what it
    /// reads) or a termination signal arrives.
    public func run(_ handler: some EventLoopHandler, until shouldStop: () -> Bool) throws(SystemCallError) {
        while !shouldStop() && !self.receivedTerminationSignal {
            try self.turn(handler)
        }
    }

    /// One turn: waits until a source is ready, the next deadline passes or the loop is woken; serves each ready
    /// source a bounded number of batches; then fires the handler's timeout if it is due.
    public func turn(_ handler: some EventLoopHandler) throws(SystemCallError) {
        let timeout = Self.epollTimeout(until: handler.nextDeadline(), now: self.clock.now())
        let ready = fz_epoll_wait(self.epoll, self.readyTokens.baseAddress, UInt32(self.readyTokens.count), timeout)
        if ready < 0 && ready != -EINTR {
            throw SystemCallError(operation: "epoll_wait", errno: -ready)
        }
        for index in 0..<Int(max(ready, 0)) {
            self.serve(self.readyTokens[index], handler)
        }
        let now = self.clock.now()
        if let deadline = handler.nextDeadline(), deadline <= now {
            handler.handleTimeout(now: now)
            self.flush()
        }
    }

    /// The epoll_wait(2) timeout for `deadline`: -1 (forever) without one, 0 once it has passed, otherwise the
    /// time left rounded up to whole milliseconds (rounding down would wake the loop early and make it spin until
    /// the deadline), at most ``longestWait``.
    public static func epollTimeout(until deadline: Instant?, now: Instant) -> Int32 {
        guard let deadline else {
            return -1
        }
        guard deadline > now else {
            return 0
        }
        let nanoseconds = deadline.nanoseconds - now.nanoseconds
        let milliseconds = nanoseconds / 1_000_000 + (nanoseconds % 1_000_000 == 0 ? 0 : 1)
        let longest = UInt64(Self.longestWait.nanoseconds / 1_000_000)
        return Int32(clamping: min(milliseconds, longest))
    }

    private func serve(_ epollData: UInt64, _ handler: some EventLoopHandler) {
        let index = Int(truncatingIfNeeded: epollData & 0xFFFF_FFFF)
        guard self.sources.indices.contains(index) else {
            return
        }
        let source = self.sources[index]
        guard source.active, UInt64(source.generation) == epollData >> 32 else {
            return
        }
        switch source.kind {
        case .udp:
            self.receiveUDP(source.fd, token: source.token, handler)
        case .tun:
            self.readTUN(token: source.token, handler)
        case .readable:
            handler.handleReadable(source: source.token, now: self.clock.now())
            self.flush()
        case .wakeup:
            fz_eventfd_drain(source.fd)
            self.counters.wakeups += 1
        case .signal:
            self.receivedTerminationSignal = true
        }
    }

    private func receiveUDP(_ fd: Int32, token: UInt64, _ handler: some EventLoopHandler) {
        for _ in 0..<max(1, handler.batchesPerTurn(source: token)) {
            let count = Int(fz_udp_receive_batch(fd, self.received.baseAddress, UInt32(Self.batchSize)))
            guard count > 0 else {
                if count < 0 {
                    self.counters.receiveErrors += 1
                }
                return
            }
            let now = self.clock.now()
            for index in 0..<count {
                self.split(slot: index, token: token, now: now, handler)
            }
            self.finishBatch(token: token, now: now, handler)
            if count < Self.batchSize {
                return
            }
        }
    }

    /// Hands the handler each datagram of one receive slot: one, or a GRO run.
    private func split(slot index: Int, token: UInt64, now: Instant, _ handler: some EventLoopHandler) {
        let header = self.received[index]
        guard header.truncated == 0 else {
            self.counters.truncatedDatagrams += 1
            return
        }
        let length = Int(header.length)
        let segmentSize = header.segment_size > 0 ? Int(header.segment_size) : length
        if segmentSize < length {
            self.counters.coalescedReceives += 1
            // Keep the run's forwards together in one send, where they can leave as one GSO run.
            if self.sendCount + (length + segmentSize - 1) / segmentSize > Self.sendCapacity {
                self.flushSends()
            }
        }
        var offset = 0
        repeat {
            let end = min(offset + segmentSize, length)
            self.slots[index].moveReaderIndex(to: 0)
            self.slots[index].moveWriterIndex(to: end)
            self.slots[index].moveReaderIndex(to: offset)
            handler.handleDatagram(&self.slots[index], received: header, source: token, now: now)
            if Self.storageBase(of: self.slots[index]) != UnsafeRawPointer(header.bytes) {
                self.replaceSlot(index)
                return
            }
            offset = end
        } while offset < length
    }

    /// Where `buffer`'s storage starts: a handler works in the driver's memory only while this is the driver's.
    @inline(__always)
    public static func storageBase(of buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withVeryUnsafeBytes { UnsafeRawPointer($0.baseAddress) }
    }

    /// Gives receive slot `index` storage of its own again after a handler left another buffer in it: recvmmsg(2)
    /// must never write into storage the driver no longer owns (the old one may be freed or another's now).
    private func replaceSlot(_ index: Int) {
        self.counters.replacedBuffers += 1
        var slot = ByteBufferAllocator().buffer(capacity: Self.receiveSlotCapacity)
        slot.writeRepeatingByte(0, count: Self.receiveSlotCapacity)
        self.received[index].bytes = slot.withUnsafeMutableReadableBytes {
            $0.baseAddress!.assumingMemoryBound(to: UInt8.self)
        }
        self.slots[index] = slot
    }

    private func readTUN(token: UInt64, _ handler: some EventLoopHandler) {
        for _ in 0..<max(1, handler.batchesPerTurn(source: token)) {
            guard let tun = self.tun else {
                return
            }
            let now = self.clock.now()
            var drained = false
            for region in 0..<tun.layout.superPacketsPerBatch where !drained {
                var stride = 0
                let count = fz_tun_read_segments(
                    tun.fd,
                    tun.superPacket.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    tun.superPacket.count,
                    tun.regionBases[region],
                    TUNBuffers.regionCapacity,
                    tun.layout.headroom,
                    tun.layout.paddingMultiple,
                    tun.layout.tailroom,
                    &stride,
                    tun.segmentLengths.baseAddress!,
                    UInt32(TUNBuffers.maximumSegments)
                )
                if count == -EINVAL {
                    self.counters.unsegmentablePackets += 1
                    continue
                }
                guard count > 0 else {
                    if count < 0 {
                        self.counters.receiveErrors += 1
                    }
                    drained = true
                    continue
                }
                for segment in 0..<Int(count) {
                    let start = segment * stride + tun.layout.headroom
                    tun.regions[region].moveReaderIndex(to: 0)
                    tun.regions[region].moveWriterIndex(to: start + Int(tun.segmentLengths[segment]))
                    tun.regions[region].moveReaderIndex(to: start)
                    handler.handleTUNPacket(
                        &tun.regions[region],
                        storage: tun.regionBases[region],
                        source: token,
                        now: now
                    )
                    if Self.storageBase(of: tun.regions[region]) != UnsafeRawPointer(tun.regionBases[region]) {
                        self.counters.replacedBuffers += 1
                        tun.replaceRegion(region)
                        break
                    }
                }
            }
            self.finishBatch(token: token, now: now, handler)
            if drained {
                return
            }
        }
    }

    private func finishBatch(token: UInt64, now: Instant, _ handler: some EventLoopHandler) {
        self.flush()
        handler.didFinishBatch(source: token, now: now)
    }

    // MARK: Sending

    /// Queues a datagram to leave from the UDP socket `fd` at the end of the batch (or now, when the queue is full).
    /// Its bytes (and `prefix`) must stay where they are until then: a receive slot or TUN region of this batch, or
    /// storage of the shell's.
    public func queueSend(_ datagram: fz_datagram, on fd: Int32) {
        if self.sendCount == Self.sendCapacity {
            self.flushSends()
        }
        self.outgoing[self.sendCount] = datagram
        self.outgoingSockets[self.sendCount] = fd
        self.sendCount += 1
    }

    /// Queues an IP packet for the TUN device, written at the end of the batch with consecutive packets of a TCP or
    /// UDP flow coalesced. `FZ_VNET_HEADER_LENGTH` bytes in front of it must be writable (the virtio-net header goes
    /// there) and, like the packet, stay put until then.
    public func queueTUNWrite(_ packet: UnsafeMutablePointer<UInt8>, length: Int) {
        guard let tun = self.tun else {
            self.counters.tunWriteFailures += 1
            return
        }
        if tun.writeCount == TUNBuffers.writeCapacity {
            self.flushTUNWrites()
        }
        tun.writes[tun.writeCount] = packet
        tun.writeLengths[tun.writeCount] = UInt32(length)
        tun.writeCount += 1
    }

    /// Sends and writes everything queued.
    public func flush() {
        self.flushSends()
        self.flushTUNWrites()
    }

    /// One sendmmsg(2) per run of the same socket, in which datagrams to one destination go as one UDP GSO send.
    /// Grouping by socket is an insertion sort: small, stable, in place and allocation-free.
    private func flushSends() {
        let count = self.sendCount
        guard count > 0 else {
            return
        }
        for index in 1..<max(count, 1) {
            var position = index
            while position > 0, self.outgoingSockets[position - 1] > self.outgoingSockets[position] {
                self.outgoingSockets.swapAt(position - 1, position)
                self.outgoing.swapAt(position - 1, position)
                position -= 1
            }
        }
        var start = 0
        while start < count {
            var end = start + 1
            while end < count, self.outgoingSockets[end] == self.outgoingSockets[start] {
                end += 1
            }
            var failed: UInt32 = 0
            let sent = fz_udp_send_coalesced(
                self.outgoingSockets[start],
                self.outgoing.baseAddress! + start,
                UInt32(end - start),
                &failed,
                &self.gsoDisabled
            )
            self.counters.datagramsNotSent += UInt64(end - start - Int(max(sent, 0))) + UInt64(failed)
            start = end
        }
        self.sendCount = 0
    }

    private func flushTUNWrites() {
        guard let tun = self.tun, tun.writeCount > 0 else {
            return
        }
        var result = fz_tun_write_result()
        fz_tun_write_packets(
            tun.fd,
            tun.writes.baseAddress,
            tun.writeLengths.baseAddress,
            UInt32(tun.writeCount),
            tun.coalesced.baseAddress!.assumingMemoryBound(to: UInt8.self),
            tun.coalesced.count,
            &tun.coalescing,
            &result
        )
        self.counters.tunWriteFailures += UInt64(result.packets_not_written)
        self.counters.tunSuperPacketsWritten += UInt64(result.super_packets)
        self.counters.tunSuperPacketsRefused += UInt64(result.refused_super_packets)
        tun.writeCount = 0
    }
}

/// The TUN device's preallocated storage: regions where super-packets are cut up, and the write queue. Held in
/// unsafe buffers, like the driver's receive slots, so that handing a region to the handler `inout` costs no
/// exclusivity check.
private final class TUNBuffers {
    /// The most packets one super-packet read becomes: 64 KiB of TCP payload in segments of at least 512 bytes, or
    /// a UDP super-packet of as many datagrams as the kernel's UDP_MAX_SEGMENTS (128 on Linux 6.18) allows.
    static let maximumSegments = 128
    /// The most packets one coalesced write carries: as the UDP GSO sends of Firezone's GSO queue (64 segments),
    /// and within every kernel's UDP_MAX_SEGMENTS.
    static let segmentsPerWrite: UInt16 = 64
    /// Room for one super-packet's packets: 128 segments of up to 2 KiB, 64 of up to 4 KiB, or one packet of up to
    /// 64 KiB.
    static let regionCapacity = 256 * 1024
    /// Packets queued for the TUN device: a receive batch's slots, each a GRO run of up to 64 datagrams.
    static let writeCapacity = EventLoopDriver.batchSize * 64

    let fd: Int32
    let layout: EventLoopDriver.TUNLayout
    let offloads: TUNOffloads
    /// What writes coalesce: TCP with TSO, UDP with USO, until the kernel refuses a kind.
    var coalescing: fz_tun_coalescing
    /// Regions, each a buffer of `regionCapacity` bytes whose storage never moves, and the start of each.
    let regions: UnsafeMutableBufferPointer<ByteBuffer>
    let regionBases: UnsafeMutableBufferPointer<UnsafeMutablePointer<UInt8>>
    let segmentLengths: UnsafeMutableBufferPointer<UInt32>
    /// One super-packet with its virtio-net header, as read from the device.
    let superPacket: UnsafeMutableRawBufferPointer
    /// Where coalesced super-packets for the device are built.
    let coalesced: UnsafeMutableRawBufferPointer
    let writes: UnsafeMutableBufferPointer<UnsafeMutablePointer<UInt8>?>
    let writeLengths: UnsafeMutableBufferPointer<UInt32>
    var writeCount = 0

    init(fd: Int32, layout: EventLoopDriver.TUNLayout, offloads: TUNOffloads) {
        self.fd = fd
        self.layout = layout
        self.offloads = offloads
        self.coalescing = fz_tun_coalescing(
            tcp: offloads.contains(.tcpSegmentation) ? 1 : 0,
            udp: offloads.contains(.udpSegmentation) ? 1 : 0,
            max_segments: Self.segmentsPerWrite
        )
        self.regions = .allocate(capacity: layout.superPacketsPerBatch)
        self.regionBases = .allocate(capacity: layout.superPacketsPerBatch)
        for index in 0..<layout.superPacketsPerBatch {
            let (region, base) = Self.makeRegion()
            (self.regionBases.baseAddress! + index).initialize(to: base)
            (self.regions.baseAddress! + index).initialize(to: region)
        }
        self.segmentLengths = .allocate(capacity: Self.maximumSegments)
        self.segmentLengths.initialize(repeating: 0)
        self.superPacket = .allocate(byteCount: Int(FZ_VNET_HEADER_LENGTH) + 65_536, alignment: 16)
        self.coalesced = .allocate(byteCount: Int(FZ_VNET_HEADER_LENGTH) + 65_536, alignment: 16)
        self.writes = .allocate(capacity: Self.writeCapacity)
        self.writes.initialize(repeating: nil)
        self.writeLengths = .allocate(capacity: Self.writeCapacity)
        self.writeLengths.initialize(repeating: 0)
    }

    /// Gives region `index` storage of its own again after a handler left another buffer in it: the next read
    /// must never write into storage the driver no longer owns.
    func replaceRegion(_ index: Int) {
        let (region, base) = Self.makeRegion()
        self.regions[index] = region
        self.regionBases[index] = base
    }

    private static func makeRegion() -> (ByteBuffer, UnsafeMutablePointer<UInt8>) {
        var region = ByteBufferAllocator().buffer(capacity: Self.regionCapacity)
        region.writeRepeatingByte(0, count: Self.regionCapacity)
        // Uniquely owned by `regions` and never grown, so the storage address is stable for our lifetime.
        let base = region.withUnsafeMutableReadableBytes { $0.baseAddress!.assumingMemoryBound(to: UInt8.self) }
        return (region, base)
    }

    deinit {
        _ = self.regions.deinitialize()
        self.regions.deallocate()
        self.regionBases.deallocate()
        self.segmentLengths.deallocate()
        self.superPacket.deallocate()
        self.coalesced.deallocate()
        self.writes.deallocate()
        self.writeLengths.deallocate()
    }
}
