import Connlib
import FirezoneTesting
import FirezoneTime
import Foundation
import Glibc
import IPPacket
import LinuxIO
import NIOCore
import Testing

/// The TUN offloads on a real device in a namespace of the test's own (10.77.0.1/24 and fd77::1/64 on `fzoff0`),
/// with the Linux kernel on the other side: which offloads it takes, the super-packets it hands over, the ones it
/// takes and the ones it refuses.
@Suite(.enabled(if: PrivilegedTests.enabled, "needs root: network namespaces and TUN devices"))
struct TunOffloadDeviceTests {
    static let name = "fzoff0"
    static let local4 = IPAddress("10.77.0.1")!
    static let peer4 = IPAddress("10.77.0.2")!
    static let local6 = IPAddress("fd77::1")!
    static let peer6 = IPAddress("fd77::2")!
    static let layout = EventLoopDriver.TUNLayout(headroom: 16, paddingMultiple: 16, tailroom: 16)
    private static let buffers = UDPSocketBuffers(sendSize: 1 << 20, receiveSize: 1 << 20, raisesKernelLimits: false)

    /// Opens the offload TUN device in the calling thread's namespace, with its addresses and up unless `up` is
    /// false (a device that is down refuses every write with EIO). The caller closes it.
    static func openDevice(up: Bool = true) throws -> Int32 {
        let fd = Self.name.withCString { fz_tun_open_offload($0) }
        guard fd >= 0 else {
            throw CommandError(command: "open offload TUN \(Self.name)", status: -fd, output: "")
        }
        if up {
            try NetworkNamespace.ip("addr", "add", "10.77.0.1/24", "dev", Self.name)
            try NetworkNamespace.ip("addr", "add", "fd77::1/64", "dev", Self.name, "nodad")
            try NetworkNamespace.ip("link", "set", Self.name, "up")
            // Even without duplicate address detection an IPv6 address stays tentative until the kernel's addrconf
            // work has run, and a packet to it is dropped until then.
            let end = ContinuousClock.now + .seconds(2)
            while try !NetworkNamespace.ip("-6", "addr", "show", "dev", Self.name, "tentative").isEmpty {
                guard ContinuousClock.now < end else {
                    throw CommandError(command: "wait for fd77::1 to leave the tentative state", status: 0, output: "")
                }
                usleep(10_000)
            }
        }
        return fd
    }

    /// `ethtool -k`'s on/off for the TUN device's checksum, TSO and USO features, in that order.
    static func deviceFeatures() throws -> [String] {
        let output = try NetworkNamespace.command("ethtool", ["-k", Self.name])
        return ["tx-checksumming", "tcp-segmentation-offload", "tx-udp-segmentation"].map { feature in
            let line = output.split(separator: "\n").first { $0.hasPrefix("\(feature):") } ?? ""
            return line.contains(": on") ? "on" : "off"
        }
    }

    /// A non-blocking UDP socket bound to `address`:`port` in the calling thread's namespace.
    static func udpSocket(_ address: IPAddress, port: UInt16) throws -> Int32 {
        let fd = bindUDP(address, port: port, receiveBuffer: 1 << 20, sendBuffer: 1 << 20)
        guard fd >= 0 else {
            throw CommandError(command: "bind UDP \(address):\(port)", status: -fd, output: "")
        }
        return fd
    }

    /// The datagrams waiting on `fd` (or arriving within `seconds`), until `count` have arrived.
    static func receive(_ fd: Int32, count: Int, within seconds: Int32 = 2) -> [[UInt8]] {
        var received: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while received.count < count {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, seconds * 1000) == 1 else {
                break
            }
            let length = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if length >= 0 {
                received.append(Array(buffer[0..<length]))
            }
        }
        return received
    }

    static func datagram(ipv6: Bool, payload: [UInt8]) throws -> IPPacket {
        try IPPacket.makeUDP(
            source: ipv6 ? Self.peer6 : Self.peer4,
            sourcePort: 6000,
            destination: ipv6 ? Self.local6 : Self.local4,
            destinationPort: 5000,
            payload: ByteBuffer(bytes: payload)
        )
    }

    /// Each packet copied behind room for its virtio-net header, as `fz_tun_write_packets` wants them.
    final class WriteQueue {
        let buffers: [UnsafeMutablePointer<UInt8>]
        let pointers: [UnsafeMutablePointer<UInt8>?]
        let lengths: [UInt32]

        init(_ packets: [IPPacket]) {
            let header = Int(FZ_VNET_HEADER_LENGTH)
            self.buffers = packets.map { packet in
                let bytes = Array(packet.buffer.readableBytesView)
                let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: header + bytes.count)
                buffer.initialize(repeating: 0xEE, count: header)
                (buffer + header).initialize(from: bytes, count: bytes.count)
                return buffer
            }
            self.pointers = self.buffers.map { $0 + header }
            self.lengths = packets.map { UInt32($0.buffer.readableBytes) }
        }

        deinit {
            for buffer in self.buffers {
                buffer.deallocate()
            }
        }

        func write(
            to fd: Int32,
            coalescing: inout fz_tun_coalescing
        ) -> fz_tun_write_result {
            var scratch = [UInt8](repeating: 0, count: 70_000)
            var result = fz_tun_write_result()
            fz_tun_write_packets(
                fd,
                self.pointers,
                self.lengths,
                UInt32(self.lengths.count),
                &scratch,
                scratch.count,
                &coalescing,
                &result
            )
            return result
        }
    }

    @Test func theKernelTakesTheMostOffloadsOfferedAndEachFallbackStepIsOneItAccepts() throws {
        let offers: [TUNOffloads] = [
            .all, [.checksum, .tcpSegmentation], [.checksum, .udpSegmentation], [.checksum], [.tcpSegmentation], [],
        ]
        let observed = try NetworkNamespace.run {
            let fd = try Self.openDevice()
            defer { close(fd) }
            return try offers.map { offer in
                let taken = try TUNOffloads.negotiate(fd: fd, offering: offer)
                return "\(taken): \(try Self.deviceFeatures().joined(separator: " "))"
            }
        }
        // Linux 6.18 accepts USO (6.2 and later do); UDP segmentation is never taken without TCP's, nor anything
        // without checksum offload, which every offload needs.
        #expect(
            observed == [
                "checksum, tso, uso: on on on",
                "checksum, tso: on on off",
                "checksum: on off off",
                "checksum: on off off",
                "none: off off off",
                "none: off off off",
            ]
        )
    }

    @Test(arguments: [false, true])
    func aUDPSuperPacketFromTheKernelReachesTheHandlerAsItsDatagrams(ipv6: Bool) throws {
        let payload = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 13) }
        let (offloads, packets, offsets) = try NetworkNamespace.run {
            let fd = try Self.openDevice()
            defer { close(fd) }
            let driver = try EventLoopDriver()
            try driver.register(tun: fd, token: 1, layout: Self.layout)
            let sender = try Self.udpSocket(ipv6 ? Self.local6 : Self.local4, port: 7000)
            defer { close(sender) }
            // One send of 1,000 bytes in datagrams of 300 (UDP_SEGMENT): with USO the device gets it whole.
            var segment: Int32 = 300
            guard setsockopt(sender, 17, 103, &segment, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                throw CommandError(command: "UDP_SEGMENT", status: errno, output: "")
            }
            var datagram = fz_datagram()
            datagram.setDestination(IPSocketAddress(ipv6 ? Self.peer6 : Self.peer4, port: 9))
            var bytes = payload
            var failed: UInt32 = 0
            let sent = bytes.withUnsafeMutableBufferPointer { buffer in
                datagram.bytes = buffer.baseAddress
                datagram.length = UInt32(buffer.count)
                return fz_udp_send_batch(sender, &datagram, 1, &failed)
            }
            guard sent == 1 else {
                throw CommandError(command: "send 1,000 bytes with UDP_SEGMENT", status: -sent, output: "")
            }
            let handler = RecordingTUNHandler(driver: driver)
            let end = ContinuousClock.now + .seconds(2)
            while handler.packets.count < 4 && ContinuousClock.now < end {
                try driver.turn(handler)
            }
            return (driver.tunOffloads, handler.packets, handler.offsets)
        }
        #expect(offloads == .all)
        let datagrams = try packets.map { try IPPacket(ByteBuffer(bytes: $0)) }
        #expect(datagrams.map(\.hasValidChecksums) == [true, true, true, true])
        #expect(datagrams.map { $0.payload.readableBytes } == [300, 300, 300, 100])
        #expect(Array(datagrams.map { Array($0.payload.readableBytesView) }.joined()) == payload)
        // Cut from one read: back to back in one region, one stride apart.
        let stride = 16 + ((ipv6 ? 40 : 20) + 8 + 300 + 15) / 16 * 16 + 16
        #expect(offsets == (0..<4).map { 16 + $0 * stride })
    }

    @Test(arguments: [false, true])
    func udpDatagramsWrittenTogetherLeaveAsOneSuperPacketAndArriveOneByOne(ipv6: Bool) throws {
        let payloads = (0..<5).map { index in
            (0..<(index == 4 ? 120 : 200)).map { UInt8(truncatingIfNeeded: $0 + index * 31) }
        }
        let (queued, counters, received) = try NetworkNamespace.run {
            let fd = try Self.openDevice()
            defer { close(fd) }
            let receiver = try Self.udpSocket(ipv6 ? Self.local6 : Self.local4, port: 5000)
            defer { close(receiver) }
            let driver = try EventLoopDriver()
            let sockets = try TunnelSockets(buffers: Self.buffers, port: 0)
            defer { sockets.close() }
            let io = TunnelIO(driver: driver, sockets: sockets)
            try io.register(tun: fd, tunToken: 1, udp4Token: 2, udp6Token: 3)
            let queued = try payloads.map { io.queueTUNWrite(try Self.datagram(ipv6: ipv6, payload: $0)) }
            io.flush()
            return (queued, driver.counters, Self.receive(receiver, count: payloads.count))
        }
        #expect(queued.allSatisfy { $0 })
        #expect(counters.tunSuperPacketsWritten == 1, "the five went as one write")
        #expect(counters.tunWriteFailures == 0)
        #expect(received == payloads)
    }

    @Test func aSuperPacketTheKernelRefusesIsWrittenPacketByPacketAndThatKindOfCoalescingStops() throws {
        // 150 one-byte datagrams in one UDP super-packet: more segments than the kernel's UDP_MAX_SEGMENTS (128),
        // which it refuses with EINVAL (include/linux/virtio_net.h, virtio_net_hdr_to_skb).
        let first = try (0..<150).map { try Self.datagram(ipv6: false, payload: [UInt8($0)]) }
        let second = try (150..<153).map { try Self.datagram(ipv6: false, payload: [UInt8($0)]) }
        let (results, coalescesUDP, received) = try NetworkNamespace.run {
            let fd = try Self.openDevice()
            defer { close(fd) }
            let receiver = try Self.udpSocket(Self.local4, port: 5000)
            defer { close(receiver) }
            var coalescing = fz_tun_coalescing(tcp: 1, udp: 1, max_segments: 200)
            let refused = WriteQueue(first).write(to: fd, coalescing: &coalescing)
            let afterwards = WriteQueue(second).write(to: fd, coalescing: &coalescing)
            return ([refused, afterwards], coalescing.udp, Self.receive(receiver, count: 153))
        }
        #expect(results.map(\.refused_super_packets) == [1, 0])
        #expect(results.map(\.packets_not_written) == [0, 0], "nothing lost")
        #expect(results.map(\.super_packets) == [0, 0], "no UDP super-packet after the refusal")
        #expect(coalescesUDP == 0)
        #expect(received == (0..<153).map { [UInt8($0)] })
    }

    @Test func everyPacketOfACoalescedWriteTheDeviceRefusesCountsAsNotWritten() throws {
        let payload: [UInt8] = (0..<400).map { UInt8(truncatingIfNeeded: $0) }
        let segments: [IPPacket] = try (0..<4).map { (index: Int) throws -> IPPacket in
            let start = index * 100
            return try IPPacket.makeTCP(
                source: Self.peer4,
                sourcePort: 40000,
                destination: Self.local4,
                destinationPort: 5201,
                sequenceNumber: 1000 + UInt32(start),
                acknowledgmentNumber: 77,
                flags: [.ack],
                payload: ByteBuffer(bytes: payload[start..<(start + 100)])
            )
        }
        let (queued, counters) = try NetworkNamespace.run {
            // Down: the kernel refuses every write with EIO.
            let fd = try Self.openDevice(up: false)
            defer { close(fd) }
            let driver = try EventLoopDriver()
            let sockets = try TunnelSockets(buffers: Self.buffers, port: 0)
            defer { sockets.close() }
            let io = TunnelIO(driver: driver, sockets: sockets)
            try io.register(tun: fd, tunToken: 1, udp4Token: 2, udp6Token: 3)
            var queued = segments.map { io.queueTUNWrite($0) }
            queued.append(io.queueTUNWrite(try Self.datagram(ipv6: false, payload: [1, 2, 3])))
            io.flush()
            return (queued, driver.counters)
        }
        #expect(queued == [true, true, true, true, true])
        #expect(counters.tunWriteFailures == 5, "four segments in one write, and one datagram")
        #expect(counters.tunSuperPacketsWritten == 0)
    }
}

/// Records the UDP packets to port 9 the TUN device hands over (the kernel also sends router solicitations and
/// MLD reports), and where each lay in its region.
final class RecordingTUNHandler: EventLoopHandler {
    let driver: EventLoopDriver
    var packets: [[UInt8]] = []
    var offsets: [Int] = []

    init(driver: EventLoopDriver) {
        self.driver = driver
    }

    func nextDeadline() -> Instant? {
        self.driver.clock.now() + .milliseconds(50)
    }

    func handleTimeout(now: Instant) {}

    func handleDatagram(_ datagram: inout ByteBuffer, received: fz_datagram, source: UInt64, now: Instant) {}

    func handleTUNPacket(
        _ packet: inout ByteBuffer,
        storage: UnsafeMutablePointer<UInt8>,
        source: UInt64,
        now: Instant
    ) {
        guard let parsed = try? IPPacket(packet), parsed.udp?.destinationPort == 9 else {
            return
        }
        self.packets.append(Array(packet.readableBytesView))
        self.offsets.append(packet.readerIndex)
    }
}
