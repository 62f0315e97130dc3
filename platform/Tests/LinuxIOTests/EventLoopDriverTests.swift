import Dispatch
import FirezoneTime
import Glibc
import IPPacket
import LinuxIO
import NIOCore
import Synchronization
import Testing

/// The driver over real loopback sockets and a real eventfd: batches, GRO runs split, sends coalesced, fairness
/// between sources and the timer, wake-ups from another thread.
struct EventLoopDriverTests {
    @Test func aReceiveBatchHoldsUpTo32DatagramsAndEndsWithOneFlush() throws {
        let driver = try EventLoopDriver()
        let receiver = try LoopbackSocket(gro: false)
        let sender = try LoopbackSocket(gro: false)
        try driver.register(udp: receiver.fd, token: 7)
        let handler = RecordingHandler(driver: driver)
        let payloads = (0..<40).map { [UInt8(truncatingIfNeeded: $0), 0xEE] }

        try sender.send(payloads, to: receiver.port)
        try driver.turn(handler)

        #expect(handler.datagrams(from: 7) == payloads)
        #expect(handler.batchSizes(of: 7) == [32, 8])
    }

    @Test func aGROReceiveIsSplitIntoItsDatagrams() throws {
        let driver = try EventLoopDriver()
        let receiver = try LoopbackSocket(gro: true)
        let sender = try LoopbackSocket(gro: false)
        try driver.register(udp: receiver.fd, token: 3)
        let handler = RecordingHandler(driver: driver)
        let payloads = (0..<6).map { [UInt8](repeating: UInt8($0), count: $0 == 5 ? 40 : 100) }

        _ = try sender.sendCoalesced(payloads.map { (bytes: $0, prefix: [], to: receiver.port) })
        try driver.turn(handler)

        #expect(handler.datagrams(from: 3) == payloads)
        #expect(driver.counters.coalescedReceives >= 1, "the kernel coalesced the run (UDP GRO)")
    }

    @Test func queuedSendsLeaveAtTheEndOfTheBatchCoalescedPerDestination() throws {
        let driver = try EventLoopDriver()
        let relay = try LoopbackSocket(gro: false)
        let sender = try LoopbackSocket(gro: false)
        let destination = try LoopbackSocket(gro: true)
        try driver.register(udp: relay.fd, token: 1)
        let handler = RecordingHandler(driver: driver)
        handler.forward = (fd: relay.fd, port: destination.port)
        let payloads = (0..<8).map { [UInt8](repeating: UInt8($0), count: 64) }

        try sender.send(payloads, to: relay.port)
        try driver.turn(handler)

        let received = try destination.receiveAll(expecting: 8)
        #expect(received.flatMap(\.segments) == payloads)
        #expect(received.count < 8, "sent as one UDP GSO run (received \(received.count) buffers)")
        #expect(driver.counters.datagramsNotSent == 0)
    }

    /// A socket with a thousand datagrams waiting gets a bounded share of each turn: the other socket's datagram and
    /// a due timer are handled before the flood's next share.
    @Test func aFloodedSocketStarvesNeitherAnotherSocketNorTheTimer() throws {
        let driver = try EventLoopDriver()
        let flooded = try LoopbackSocket(gro: false)
        let quiet = try LoopbackSocket(gro: false)
        let sender = try LoopbackSocket(gro: false)
        try driver.register(udp: flooded.fd, token: 1)
        try driver.register(udp: quiet.fd, token: 2)
        let handler = RecordingHandler(driver: driver)
        let flood = 1024
        let floodPayloads = (0..<flood).map { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
        try sender.send(floodPayloads, to: flooded.port)
        try sender.send([[0x51]], to: quiet.port)
        handler.timer = driver.clock.now()

        var turns = 0
        while handler.datagrams(from: 1).count < flood, turns < 2 * flood / EventLoopDriver.batchSize {
            try driver.turn(handler)
            turns += 1
        }

        let share = EventLoopDriver.batchSize * EventLoopDriver.batchesPerTurn
        #expect(handler.datagrams(from: 1).count == flood)
        #expect(turns >= flood / share, "the flood took several turns")
        let quietAt = try #require(handler.events.firstIndex(of: .datagram(source: 2, bytes: [0x51])))
        let timerAt = try #require(handler.events.firstIndex(of: .timeout))
        #expect(handler.datagramCount(from: 1, before: quietAt) <= share)
        #expect(handler.datagramCount(from: 1, before: timerAt) <= share)
    }

    /// A handler that writes to a datagram while keeping another reference to it leaves a copy in the receive slot
    /// (copy on write); the driver gives the slot storage of its own again, so that the next receive lands where the
    /// handler is told it is, never in storage the driver gave away.
    @Test func aReceiveSlotLeftHoldingACopyGetsStorageOfItsOwnAgain() throws {
        let driver = try EventLoopDriver()
        let receiver = try LoopbackSocket(gro: false)
        let sender = try LoopbackSocket(gro: false)
        try driver.register(udp: receiver.fd, token: 5)
        let handler = RecordingHandler(driver: driver)
        handler.copiesOnWrite = 1

        try sender.send([[1, 1]], to: receiver.port)
        try driver.turn(handler)
        try sender.send([[2, 2], [3, 3]], to: receiver.port)
        try driver.turn(handler)

        #expect(handler.datagrams(from: 5) == [[1, 1], [2, 2], [3, 3]])
        #expect(handler.inDriverStorage == [true, true, true])
        #expect(driver.counters.replacedBuffers == 1)
    }

    @Test func aSubMillisecondDeadlineFiresInTheFirstTurn() throws {
        let driver = try EventLoopDriver()
        let handler = RecordingHandler(driver: driver)
        handler.timer = driver.clock.now() + .microseconds(300)

        try driver.turn(handler)

        #expect(handler.events == [.timeout])
    }

    @Test func anotherThreadWakesTheLoopToStopIt() throws {
        let driver = try EventLoopDriver()
        let handler = RecordingHandler(driver: driver)
        let stop = StopFlag()
        let waker = driver.waker
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) {
            stop.set()
            waker.wake()
        }

        try driver.run(handler, until: { stop.isSet })

        // Without the wake-up the loop would notice the flag only when its wait ends (EventLoopDriver.longestWait);
        // the wake-up itself ended the wait, whatever the machine's load.
        #expect(driver.counters.wakeups == 1)
        #expect(handler.events.isEmpty)
    }

    @Test func aReadableDescriptorIsHandedToTheHandler() throws {
        let driver = try EventLoopDriver()
        let eventfd = fz_eventfd_create()
        try #require(eventfd >= 0)
        defer { close(eventfd) }
        try driver.register(readable: eventfd, token: 9)
        let handler = RecordingHandler(driver: driver)
        handler.drain = eventfd

        fz_eventfd_signal(eventfd)
        try driver.turn(handler)

        #expect(handler.events == [.readable(source: 9)])
    }

    @Test func anUnregisteredSocketIsNoLongerRead() throws {
        let driver = try EventLoopDriver()
        let first = try LoopbackSocket(gro: false)
        let second = try LoopbackSocket(gro: false)
        let sender = try LoopbackSocket(gro: false)
        let registration = try driver.register(udp: first.fd, token: 1)
        try driver.register(udp: second.fd, token: 2)
        let handler = RecordingHandler(driver: driver)

        driver.unregister(registration)
        try sender.send([[1]], to: first.port)
        try sender.send([[2]], to: second.port)
        try driver.turn(handler)

        #expect(handler.events == [.datagram(source: 2, bytes: [2]), .batchEnd(source: 2)])
    }
}

/// Records what the driver hands over, in order; optionally forwards each datagram through the driver.
final class RecordingHandler: EventLoopHandler {
    enum Event: Equatable {
        case datagram(source: UInt64, bytes: [UInt8])
        case batchEnd(source: UInt64)
        case readable(source: UInt64)
        case timeout
    }

    let driver: EventLoopDriver
    var events: [Event] = []
    /// A deadline; once it fires, there is none.
    var timer: Instant?
    /// Queue each datagram to leave from `fd` for 127.0.0.1:`port`.
    var forward: (fd: Int32, port: UInt16)?
    /// A readable eventfd to clear.
    var drain: Int32?
    /// How many of the next datagrams to write to while keeping a reference to them, which copies them.
    var copiesOnWrite = 0
    /// Per datagram, whether its buffer was the driver's storage that `received` names.
    var inDriverStorage: [Bool] = []
    private var kept: [ByteBuffer] = []

    init(driver: EventLoopDriver) {
        self.driver = driver
    }

    func nextDeadline() -> Instant? {
        // Without a timer, a distant deadline keeps every test's wait within EventLoopDriver.longestWait.
        self.timer ?? self.driver.clock.now() + .seconds(3600)
    }

    func handleTimeout(now: Instant) {
        if let timer = self.timer, timer <= now {
            self.events.append(.timeout)
            self.timer = nil
        }
    }

    func handleDatagram(_ datagram: inout ByteBuffer, received: fz_datagram, source: UInt64, now: Instant) {
        self.events.append(.datagram(source: source, bytes: Array(datagram.readableBytesView)))
        self.inDriverStorage.append(EventLoopDriver.storageBase(of: datagram) == UnsafeRawPointer(received.bytes))
        if self.copiesOnWrite > 0 {
            self.copiesOnWrite -= 1
            self.kept.append(datagram)
            datagram.setInteger(UInt8(0), at: datagram.readerIndex)
        }
        if let forward = self.forward {
            var out = fz_datagram()
            out.bytes = received.bytes + datagram.readerIndex
            out.length = UInt32(datagram.readableBytes)
            out.family = 4
            out.port = forward.port
            withUnsafeMutableBytes(of: &out.address) { $0.copyBytes(from: [127, 0, 0, 1]) }
            self.driver.queueSend(out, on: forward.fd)
        }
    }

    func handleReadable(source: UInt64, now: Instant) {
        self.events.append(.readable(source: source))
        if let drain = self.drain {
            fz_eventfd_drain(drain)
        }
    }

    func didFinishBatch(source: UInt64, now: Instant) {
        self.events.append(.batchEnd(source: source))
    }

    func datagrams(from source: UInt64) -> [[UInt8]] {
        self.events.compactMap {
            if case .datagram(source, let bytes) = $0 { bytes } else { nil }
        }
    }

    func datagramCount(from source: UInt64, before end: Int) -> Int {
        self.events[..<end].filter {
            if case .datagram(source, _) = $0 { true } else { false }
        }.count
    }

    /// How many datagrams each of `source`'s batches held.
    func batchSizes(of source: UInt64) -> [Int] {
        var sizes: [Int] = []
        var current = 0
        for event in self.events {
            switch event {
            case .datagram(source, _): current += 1
            case .batchEnd(source):
                sizes.append(current)
                current = 0
            default: break
            }
        }
        return sizes
    }
}

final class StopFlag: Sendable {
    private let value = Atomic(false)

    var isSet: Bool {
        self.value.load(ordering: .acquiring)
    }

    func set() {
        self.value.store(true, ordering: .releasing)
    }
}

extension LoopbackSocket {
    /// Sends each payload as its own datagram (no GSO) to 127.0.0.1:`port`.
    func send(_ payloads: [[UInt8]], to port: UInt16) throws {
        let storage = payloads.map { UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max($0.count, 1)) }
        defer { for buffer in storage { buffer.deallocate() } }
        var datagrams = payloads.enumerated().map { index, payload in
            _ = storage[index].initialize(from: payload)
            var datagram = fz_datagram()
            datagram.bytes = storage[index].baseAddress
            datagram.length = UInt32(payload.count)
            datagram.family = 4
            datagram.port = port
            withUnsafeMutableBytes(of: &datagram.address) { $0.copyBytes(from: [127, 0, 0, 1]) }
            return datagram
        }
        var failed: UInt32 = 0
        let sent = fz_udp_send_batch(self.fd, &datagrams, UInt32(datagrams.count), &failed)
        try #require(sent == datagrams.count && failed == 0, "sent \(sent) of \(datagrams.count), failed \(failed)")
    }
}

/// The driver's TUN path on a SOCK_SEQPACKET socket pair, which keeps message boundaries as a TUN device does:
/// a super-packet with a virtio-net header goes in, its segments reach the handler with room to seal them in place,
/// and what the handler queues for the device comes out coalesced at the end of the batch.
struct EventLoopDriverTUNTests {
    @Test func aSuperPacketReachesTheHandlerAsSegmentsAndLeavesCoalesced() throws {
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0)
        defer { for fd in fds { close(fd) } }
        let (device, kernel) = (fds[0], fds[1])
        try #require(fcntl(device, F_SETFL, fcntl(device, F_GETFL) | O_NONBLOCK) == 0)
        let driver = try EventLoopDriver()
        // A socket is no TUN device: say which offloads its "kernel" took.
        try driver.register(
            tun: device,
            token: 5,
            layout: .init(headroom: 16, paddingMultiple: 16, tailroom: 16),
            offloads: [.checksum, .tcpSegmentation]
        )
        let handler = TUNLoopbackHandler(driver: driver)
        let payload = (0..<1100).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let packet = try IPPacket.makeTCP(
            source: IPAddress("10.196.0.1")!,
            sourcePort: 40000,
            destination: IPAddress("10.196.0.2")!,
            destinationPort: 5201,
            sequenceNumber: 1000,
            acknowledgmentNumber: 77,
            flags: [.ack],
            payload: ByteBuffer(bytes: payload)
        )
        // What the kernel hands over: a virtio-net header asking for TCP segments of 250 bytes and the checksum.
        var message: [UInt8] = [1, 1]
        for value: UInt16 in [20 + 20, 250, 20, 16] {
            message += [UInt8(value & 0xFF), UInt8(value >> 8)]
        }
        message += Array(packet.intoBuffer().readableBytesView)
        #expect(message.withUnsafeBytes { write(kernel, $0.baseAddress, $0.count) } == message.count)

        try driver.turn(handler)

        #expect(handler.packets.map(\.count) == [290, 290, 290, 290, 140])
        #expect(handler.packets.map { Array($0[40...]) }.joined().elementsEqual(payload))
        // Each packet has the layout's room around it: 16 bytes of headroom, padding to 16, 16 bytes of tailroom.
        let stride = 16 + (290 + 15) / 16 * 16 + 16
        #expect(handler.offsets == (0..<5).map { 16 + $0 * stride })
        try #require(fcntl(kernel, F_SETFL, fcntl(kernel, F_GETFL) | O_NONBLOCK) == 0)
        var received = [UInt8](repeating: 0, count: 70_000)
        let length = received.withUnsafeMutableBytes { read(kernel, $0.baseAddress, $0.count) }
        try #require(length > 10)
        let coalesced = try IPPacket(ByteBuffer(bytes: received[10..<length]))
        #expect(Array(coalesced.payload.readableBytesView) == payload, "the five segments went back as one")
        #expect(driver.counters.tunWriteFailures == 0)
        #expect(driver.counters.tunSuperPacketsWritten == 1)
    }

    /// A handler that writes to a packet while keeping another reference to it leaves a copy in the region (copy on
    /// write); the driver gives the region storage of its own again and drops the rest of that super-packet, so
    /// that the next read lands where the handler is told it is.
    @Test func aRegionLeftHoldingACopyGetsStorageOfItsOwnAgain() throws {
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0)
        defer { for fd in fds { close(fd) } }
        let (device, kernel) = (fds[0], fds[1])
        try #require(fcntl(device, F_SETFL, fcntl(device, F_GETFL) | O_NONBLOCK) == 0)
        let driver = try EventLoopDriver()
        // A socket is no TUN device: say which offloads its "kernel" took.
        try driver.register(
            tun: device,
            token: 5,
            layout: .init(headroom: 16, paddingMultiple: 16, tailroom: 16),
            offloads: [.checksum, .tcpSegmentation]
        )
        let handler = TUNLoopbackHandler(driver: driver)
        handler.copiesOnWrite = 1
        // Without a virtio-net GSO request each read is one packet.
        func deliver(_ value: UInt8) throws -> [UInt8] {
            let packet = try IPPacket.makeUDP(
                source: IPAddress("10.196.0.1")!,
                sourcePort: 40000,
                destination: IPAddress("10.196.0.2")!,
                destinationPort: 5201,
                payload: ByteBuffer(bytes: [UInt8](repeating: value, count: 100))
            )
            let bytes = Array(packet.intoBuffer().readableBytesView)
            let message = [UInt8](repeating: 0, count: 10) + bytes
            #expect(message.withUnsafeBytes { write(kernel, $0.baseAddress, $0.count) } == message.count)
            return bytes
        }

        let first = try deliver(1)
        try driver.turn(handler)
        let second = try deliver(2)
        let third = try deliver(3)
        try driver.turn(handler)

        #expect(handler.packets == [first, second, third])
        #expect(handler.inDriverStorage == [true, true, true])
        #expect(driver.counters.replacedBuffers == 1)
    }
}

/// Records each TUN packet and queues it back for the device.
final class TUNLoopbackHandler: EventLoopHandler {
    let driver: EventLoopDriver
    var packets: [[UInt8]] = []
    /// Where each packet starts in its region.
    var offsets: [Int] = []
    /// How many of the next packets to write to while keeping a reference to them, which copies them.
    var copiesOnWrite = 0
    /// Per packet, whether its buffer was the driver's region at `storage`.
    var inDriverStorage: [Bool] = []
    private var kept: [ByteBuffer] = []

    init(driver: EventLoopDriver) {
        self.driver = driver
    }

    func nextDeadline() -> Instant? {
        self.driver.clock.now() + .seconds(3600)
    }

    func handleTimeout(now: Instant) {}

    func handleDatagram(_ datagram: inout ByteBuffer, received: fz_datagram, source: UInt64, now: Instant) {}

    func handleTUNPacket(
        _ packet: inout ByteBuffer,
        storage: UnsafeMutablePointer<UInt8>,
        source: UInt64,
        now: Instant
    ) {
        self.packets.append(Array(packet.readableBytesView))
        self.offsets.append(packet.readerIndex)
        self.inDriverStorage.append(EventLoopDriver.storageBase(of: packet) == UnsafeRawPointer(storage))
        if self.copiesOnWrite > 0 {
            self.copiesOnWrite -= 1
            self.kept.append(packet)
            packet.setInteger(UInt8(0x45), at: packet.readerIndex)
            return
        }
        self.driver.queueTUNWrite(storage + packet.readerIndex, length: packet.readableBytes)
    }
}
