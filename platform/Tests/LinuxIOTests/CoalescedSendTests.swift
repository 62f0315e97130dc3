import Glibc
import LinuxIO
import Testing

/// `fz_udp_send_coalesced` and `fz_udp_receive_batch` over real loopback sockets: what one side coalesces with
/// UDP GSO, the other receives with UDP GRO as one buffer, or datagram by datagram without it.
struct CoalescedSendTests {
    @Test func equalDatagramsToOneDestinationArriveAsOneGROBufferInOrder() throws {
        let receiver = try LoopbackSocket(gro: true)
        let sender = try LoopbackSocket(gro: false)
        let payloads = (0..<6).map { index in [UInt8](repeating: UInt8(index), count: index == 5 ? 40 : 100) }

        let sent = try sender.sendCoalesced(payloads.map { (bytes: $0, prefix: [], to: receiver.port) })

        #expect(sent == 6)
        let received = try receiver.receiveAll(expecting: 6)
        #expect(received.flatMap(\.segments) == payloads)
        #expect(received.count < 6, "at least two datagrams were coalesced (received \(received.count) buffers)")
        #expect(received.first?.segmentSize == 100)
    }

    @Test func thePrefixIsSentInFrontOfEachDatagram() throws {
        let receiver = try LoopbackSocket(gro: false)
        let sender = try LoopbackSocket(gro: false)
        let header: [UInt8] = [0x40, 0x00, 0x00, 0x03]

        let sent = try sender.sendCoalesced([
            (bytes: [1, 2, 3], prefix: header, to: receiver.port),
            (bytes: [4, 5, 6], prefix: header, to: receiver.port),
        ])

        #expect(sent == 2)
        let received = try receiver.receiveAll(expecting: 2).flatMap(\.segments)
        #expect(received == [header + [1, 2, 3], header + [4, 5, 6]])
    }

    @Test func interleavedDestinationsEachGetTheirDatagramsInOrder() throws {
        let first = try LoopbackSocket(gro: false)
        let second = try LoopbackSocket(gro: false)
        let sender = try LoopbackSocket(gro: false)
        var batch: [(bytes: [UInt8], prefix: [UInt8], to: UInt16)] = []
        for index in 0..<10 {
            batch.append((bytes: [UInt8(index), 0xA], prefix: [], to: first.port))
            batch.append((bytes: [UInt8(index), 0xB], prefix: [], to: second.port))
        }

        let sent = try sender.sendCoalesced(batch)

        #expect(sent == 20)
        #expect(try first.receiveAll(expecting: 10).flatMap(\.segments) == (0..<10).map { [UInt8($0), 0xA] })
        #expect(try second.receiveAll(expecting: 10).flatMap(\.segments) == (0..<10).map { [UInt8($0), 0xB] })
    }

    /// Firezone #10279: a GSO send the kernel refuses with EIO is sent again datagram by datagram, and the driver
    /// sends without GSO from then on.
    @Test func aGSOSendRefusedWithEIOIsResentDatagramByDatagramAndGSOStaysOff() throws {
        let receiver = try LoopbackSocket(gro: false, udpLite: true)
        let sender = try LoopbackSocket(gro: false, udpLite: true)
        let first = (0..<6).map { [UInt8](repeating: UInt8($0), count: 100) }
        let second = (6..<9).map { [UInt8](repeating: UInt8($0), count: 100) }
        var gsoDisabled: UInt8 = 0

        let (sentFirst, failedFirst) = sender.sendCoalesced(
            first.map { (bytes: $0, prefix: [], to: receiver.port) },
            gsoDisabled: &gsoDisabled
        )
        #expect(sentFirst == 6 && failedFirst == 0)
        #expect(gsoDisabled == 1, "the EIO turned GSO off")
        let (sentSecond, failedSecond) = sender.sendCoalesced(
            second.map { (bytes: $0, prefix: [], to: receiver.port) },
            gsoDisabled: &gsoDisabled
        )
        #expect(sentSecond == 3 && failedSecond == 0)
        #expect(gsoDisabled == 1)

        #expect(try receiver.receiveAll(expecting: 9).flatMap(\.segments) == first + second)
    }

    @Test func withoutGROEveryDatagramArrivesOnItsOwn() throws {
        let receiver = try LoopbackSocket(gro: false)
        let sender = try LoopbackSocket(gro: false)
        let payloads = (0..<8).map { [UInt8](repeating: UInt8($0), count: 64) }

        _ = try sender.sendCoalesced(payloads.map { (bytes: $0, prefix: [], to: receiver.port) })

        let received = try receiver.receiveAll(expecting: 8)
        #expect(received.count == 8)
        #expect(received.allSatisfy { $0.segmentSize == 0 })
        #expect(received.flatMap(\.segments) == payloads)
    }
}

/// A UDP socket on 127.0.0.1, closed when the test's value goes away.
final class LoopbackSocket {
    let fd: Int32
    let port: UInt16

    /// With `udpLite`, a UDP-Lite socket (RFC 3828), for which the kernel refuses every GSO send with EIO
    /// (net/ipv4/udp.c, udp_send_skb): the one refusal a test can still provoke on Linux 6.18, where a route
    /// without checksum offload no longer makes UDP GSO fail.
    init(gro: Bool, udpLite: Bool = false) throws {
        let fd: Int32
        if udpLite {
            fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), Int32(IPPROTO_UDPLITE))
            try #require(fd >= 0, "UDP-Lite socket: errno \(errno)")
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            try #require(bound == 0, "bind UDP-Lite: errno \(errno)")
        } else {
            fd = fz_udp_bind(4, [127, 0, 0, 1], 0, 1 << 20, 1 << 20)
            try #require(fd >= 0, "bind: errno \(-fd)")
        }
        if gro {
            try #require(fz_udp_enable_gro(fd) == 0, "UDP_GRO")
        }
        self.fd = fd
        self.port = UInt16(fz_udp_local_port(fd))
    }

    deinit {
        close(self.fd)
    }

    func sendCoalesced(_ batch: [(bytes: [UInt8], prefix: [UInt8], to: UInt16)]) throws -> Int {
        var gsoDisabled: UInt8 = 0
        let (sent, failed) = self.sendCoalesced(batch, gsoDisabled: &gsoDisabled)
        try #require(failed == 0 && gsoDisabled == 0, "failed \(failed), GSO disabled \(gsoDisabled)")
        return sent
    }

    /// `fz_udp_send_coalesced` with the caller's GSO flag: how many were sent, and how many the kernel refused.
    func sendCoalesced(
        _ batch: [(bytes: [UInt8], prefix: [UInt8], to: UInt16)],
        gsoDisabled: inout UInt8
    ) -> (sent: Int, failed: UInt32) {
        let storage = batch.map { UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max($0.bytes.count, 1)) }
        defer { for buffer in storage { buffer.deallocate() } }
        var datagrams = batch.enumerated().map { index, entry in
            _ = storage[index].initialize(from: entry.bytes)
            var datagram = fz_datagram()
            datagram.bytes = storage[index].baseAddress
            datagram.length = UInt32(entry.bytes.count)
            datagram.family = 4
            datagram.port = entry.to
            withUnsafeMutableBytes(of: &datagram.address) { $0.copyBytes(from: [127, 0, 0, 1]) }
            datagram.prefix_length = UInt8(entry.prefix.count)
            withUnsafeMutableBytes(of: &datagram.prefix) { $0.copyBytes(from: entry.prefix) }
            return datagram
        }
        var failed: UInt32 = 0
        let sent = fz_udp_send_coalesced(self.fd, &datagrams, UInt32(datagrams.count), &failed, &gsoDisabled)
        return (Int(sent), failed)
    }

    struct Received {
        var segmentSize: Int
        var segments: [[UInt8]]
    }

    /// Receives until `count` datagrams (counting each of a GRO buffer) have arrived, waiting up to 2 s.
    func receiveAll(expecting count: Int) throws -> [Received] {
        var received: [Received] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var waited = 0
        while received.reduce(0, { $0 + $1.segments.count }) < count {
            var datagram = fz_datagram()
            let got = buffer.withUnsafeMutableBufferPointer { bytes in
                datagram.bytes = bytes.baseAddress
                datagram.capacity = UInt32(bytes.count)
                return fz_udp_receive_batch(self.fd, &datagram, 1)
            }
            if got == 0 {
                try #require(waited < 2000, "only \(received.count) buffers arrived")
                usleep(1000)
                waited += 1
                continue
            }
            try #require(got == 1)
            let bytes = Array(buffer[0..<Int(datagram.length)])
            let size = Int(datagram.segment_size)
            let segments =
                size == 0
                ? [bytes]
                : stride(from: 0, to: bytes.count, by: size).map {
                    Array(bytes[$0..<min($0 + size, bytes.count)])
                }
            received.append(Received(segmentSize: size, segments: segments))
        }
        return received
    }
}
