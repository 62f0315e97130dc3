import Glibc
import IPPacket
import LinuxIO
import NIOCore
import Testing

/// The TUN offload code on real descriptors: a SOCK_SEQPACKET socket pair keeps message boundaries as a TUN
/// device does, so what the functions read and write can be checked byte for byte. IPPacket, written
/// independently of this C code, checks the checksums.
struct TunOffloadTests {
    static let v4Source = IPAddress("10.196.0.1")!
    static let v4Destination = IPAddress("10.196.0.2")!
    static let v6Source = IPAddress("fd96:196::1")!
    static let v6Destination = IPAddress("fd96:196::2")!
    /// NOP, NOP, timestamp: what Linux puts on every data segment.
    static let timestampOption: [UInt8] = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]

    static func segment(
        ipv6: Bool,
        sequence: UInt32,
        payload: [UInt8],
        flags: TCPFlags = [.ack],
        destinationPort: UInt16 = 5201
    ) throws -> [UInt8] {
        let packet = try IPPacket.makeTCP(
            source: ipv6 ? Self.v6Source : Self.v4Source,
            sourcePort: 40000,
            destination: ipv6 ? Self.v6Destination : Self.v4Destination,
            destinationPort: destinationPort,
            sequenceNumber: sequence,
            acknowledgmentNumber: 77,
            flags: flags,
            options: ByteBuffer(bytes: Self.timestampOption),
            payload: ByteBuffer(bytes: payload)
        )
        return Array(packet.intoBuffer().readableBytesView)
    }

    static func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    static func payload(_ count: Int, from start: Int = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 + start) * 7) }
    }

    @Test(arguments: [false, true])
    func superPacketIsCutIntoSegmentsWithValidChecksums(ipv6: Bool) throws {
        let (writer, reader) = try Self.socketPair()
        defer {
            close(writer)
            close(reader)
        }
        let whole = Self.payload(1100)
        var superPacket = try Self.segment(ipv6: ipv6, sequence: 1000, payload: whole, flags: [.ack, .psh, .fin])
        let ipLength = ipv6 ? 40 : 20
        // What the kernel sends: a virtio-net header asking for segments of 250 bytes and the checksum, whose
        // field holds only the pseudo-header sum (any value: the segments get theirs computed from scratch).
        var header: [UInt8] = [1, ipv6 ? 4 : 1]
        for value in [UInt16(ipLength + 32), 250, UInt16(ipLength), 16] {
            header += [UInt8(value & 0xFF), UInt8(value >> 8)]
        }
        superPacket[ipLength + 16] = 0xAB
        let message = header + superPacket
        #expect(message.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) } == message.count)

        // Packets land back to back: 16 bytes of headroom, the packet padded to 16, 16 bytes of tag room.
        let region = UnsafeMutablePointer<UInt8>.allocate(capacity: 8192)
        defer { region.deallocate() }
        var lengths = [UInt32](repeating: 0, count: 8)
        var scratch = [UInt8](repeating: 0, count: 70_000)
        var stride = 0
        let count = fz_tun_read_segments(
            reader,
            &scratch,
            scratch.count,
            region,
            8192,
            16,
            16,
            16,
            &stride,
            &lengths,
            8
        )
        try #require(count == 5)
        let segmentLength = ipLength + 32 + 250
        #expect(stride == 16 + (segmentLength + 15) / 16 * 16 + 16)
        for index in 0..<5 {
            let bytes = Array(UnsafeBufferPointer(start: region + index * stride + 16, count: Int(lengths[index])))
            let packet = try IPPacket(ByteBuffer(bytes: bytes))
            #expect(packet.hasValidChecksums, "segment \(index)")
            let tcp = try #require(packet.tcp)
            #expect(tcp.sequenceNumber == 1000 + UInt32(index * 250))
            #expect(
                Array(packet.payload.readableBytesView) == Array(whole[(index * 250)..<min(1100, (index + 1) * 250)])
            )
            let last = index == 4
            #expect(tcp.flags.contains(.fin) == last && tcp.flags.contains(.psh) == last)
            if !ipv6 {
                #expect(bytes[4] == superPacket[4] && Int(bytes[5]) == Int(superPacket[5]) + index)
            }
        }
    }

    @Test(arguments: [false, true])
    func consecutiveSegmentsAreCoalescedIntoOneSuperPacket(ipv6: Bool) throws {
        let (writer, reader) = try Self.socketPair()
        defer {
            close(writer)
            close(reader)
        }
        var corrupted = try Self.segment(ipv6: ipv6, sequence: 5300, payload: Self.payload(300))
        corrupted[corrupted.count - 1] ^= 0xFF
        let packets: [[UInt8]] = [
            try Self.segment(ipv6: ipv6, sequence: 1000, payload: Self.payload(300, from: 0)),
            try Self.segment(ipv6: ipv6, sequence: 1300, payload: Self.payload(300, from: 300)),
            try Self.segment(ipv6: ipv6, sequence: 1600, payload: Self.payload(150, from: 600), flags: [.ack, .psh]),
            // Not coalesced: another flow, then a gap in the sequence, then a bad checksum.
            try Self.segment(ipv6: ipv6, sequence: 1750, payload: Self.payload(300), destinationPort: 5202),
            try Self.segment(ipv6: ipv6, sequence: 5000, payload: Self.payload(300)),
            corrupted,
        ]
        // Each packet 16 bytes into its own buffer, as in the device's receive slots.
        let buffers = packets.map { packet -> UnsafeMutablePointer<UInt8> in
            let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 16 + packet.count)
            buffer.initialize(repeating: 0xEE, count: 16)
            (buffer + 16).initialize(from: packet, count: packet.count)
            return buffer
        }
        defer { for buffer in buffers { buffer.deallocate() } }
        let pointers: [UnsafeMutablePointer<UInt8>?] = buffers.map { $0 + 16 }
        let lengths = packets.map { UInt32($0.count) }
        var scratch = [UInt8](repeating: 0, count: 70_000)
        var coalescing = fz_tun_coalescing(tcp: 1, udp: 1, max_segments: 64)
        var result = fz_tun_write_result()
        fz_tun_write_packets(
            writer,
            pointers,
            lengths,
            UInt32(packets.count),
            &scratch,
            scratch.count,
            &coalescing,
            &result
        )
        #expect(result.packets_not_written == 0 && result.super_packets == 1)

        var written: [[UInt8]] = []
        var message = [UInt8](repeating: 0, count: 70_000)
        for _ in 0..<4 {
            let count = message.withUnsafeMutableBytes { recv(reader, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            try #require(count > 0)
            written.append(Array(message[0..<count]))
        }
        #expect(message.withUnsafeMutableBytes { recv(reader, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) } == -1)

        // The first three became one super-packet with a GSO header.
        let ipLength = ipv6 ? 40 : 20
        let coalesced = written[0]
        #expect(Array(coalesced[0..<2]) == [1, ipv6 ? 4 : 1])
        #expect(Int(coalesced[4]) | Int(coalesced[5]) << 8 == 300)  // gso_size
        #expect(Int(coalesced[6]) | Int(coalesced[7]) << 8 == ipLength)  // csum_start
        var superPacket = Array(coalesced[10...])
        #expect(superPacket.count == ipLength + 32 + 750)
        #expect(Array(superPacket[(ipLength + 32)...]) == Self.payload(750))
        #expect(superPacket[ipLength + 13] == TCPFlags([.ack, .psh]).rawValue)
        // The checksum field holds the pseudo-header sum (CHECKSUM_PARTIAL); completing it gives a valid packet.
        Self.completeChecksum(&superPacket, start: ipLength, field: ipLength + 16)
        #expect(try IPPacket(ByteBuffer(bytes: superPacket)).hasValidChecksums)
        // The rest went one by one, behind a zeroed header.
        for (index, original) in packets[3...].enumerated() {
            #expect(written[index + 1] == [UInt8](repeating: 0, count: 10) + original)
        }
    }

    static func datagram(ipv6: Bool, payload: [UInt8], destinationPort: UInt16 = 5000) throws -> [UInt8] {
        let packet = try IPPacket.makeUDP(
            source: ipv6 ? Self.v6Source : Self.v4Source,
            sourcePort: 6000,
            destination: ipv6 ? Self.v6Destination : Self.v4Destination,
            destinationPort: destinationPort,
            payload: ByteBuffer(bytes: payload)
        )
        return Array(packet.intoBuffer().readableBytesView)
    }

    /// What the kernel does with a packet marked VIRTIO_NET_HDR_F_NEEDS_CSUM (skb_checksum_help): sums the bytes from
    /// `start` to the end, the checksum field holding the pseudo-header sum, and stores the complement at `field`.
    static func completeChecksum(_ packet: inout [UInt8], start: Int, field: Int) {
        var sum: UInt32 = 0
        var index = start
        while index < packet.count {
            let high = UInt32(packet[index]) << 8
            let low = index + 1 < packet.count ? UInt32(packet[index + 1]) : 0
            sum += high | low
            index += 2
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xFFFF) + (sum >> 16)
        }
        let checksum = ~UInt16(sum)
        packet[field] = UInt8(checksum >> 8)
        packet[field + 1] = UInt8(checksum & 0xFF)
    }

    @Test(arguments: [false, true])
    func equalUDPDatagramsOfOneFlowAreCoalescedIntoOneUSOSuperPacket(ipv6: Bool) throws {
        let (writer, reader) = try Self.socketPair()
        defer {
            close(writer)
            close(reader)
        }
        var corrupted = try Self.datagram(ipv6: ipv6, payload: Self.payload(200))
        corrupted[corrupted.count - 1] ^= 0xFF
        let packets: [[UInt8]] = [
            try Self.datagram(ipv6: ipv6, payload: Self.payload(200, from: 0)),
            try Self.datagram(ipv6: ipv6, payload: Self.payload(200, from: 200)),
            try Self.datagram(ipv6: ipv6, payload: Self.payload(200, from: 400)),
            try Self.datagram(ipv6: ipv6, payload: Self.payload(120, from: 600)),
            // Not coalesced: after a shorter one, then another flow, then a bad checksum.
            try Self.datagram(ipv6: ipv6, payload: Self.payload(200)),
            try Self.datagram(ipv6: ipv6, payload: Self.payload(200), destinationPort: 5001),
            corrupted,
        ]
        let buffers = packets.map { packet -> UnsafeMutablePointer<UInt8> in
            let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 16 + packet.count)
            buffer.initialize(repeating: 0xEE, count: 16)
            (buffer + 16).initialize(from: packet, count: packet.count)
            return buffer
        }
        defer { for buffer in buffers { buffer.deallocate() } }
        let pointers: [UnsafeMutablePointer<UInt8>?] = buffers.map { $0 + 16 }
        let lengths = packets.map { UInt32($0.count) }
        var scratch = [UInt8](repeating: 0, count: 70_000)
        var coalescing = fz_tun_coalescing(tcp: 1, udp: 1, max_segments: 64)
        var result = fz_tun_write_result()
        fz_tun_write_packets(
            writer,
            pointers,
            lengths,
            UInt32(packets.count),
            &scratch,
            scratch.count,
            &coalescing,
            &result
        )
        #expect(result.packets_not_written == 0 && result.super_packets == 1)

        var written: [[UInt8]] = []
        var message = [UInt8](repeating: 0, count: 70_000)
        for _ in 0..<4 {
            let count = message.withUnsafeMutableBytes { recv(reader, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            try #require(count > 0)
            written.append(Array(message[0..<count]))
        }
        #expect(message.withUnsafeMutableBytes { recv(reader, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) } == -1)

        // The first four became one USO super-packet: VIRTIO_NET_HDR_GSO_UDP_L4, segments of 200 bytes, the
        // checksum left to the kernel from the UDP header on.
        let ipLength = ipv6 ? 40 : 20
        let coalesced = written[0]
        #expect(Array(coalesced[0..<2]) == [1, 5])
        #expect(Int(coalesced[2]) | Int(coalesced[3]) << 8 == ipLength + 8)  // hdr_len
        #expect(Int(coalesced[4]) | Int(coalesced[5]) << 8 == 200)  // gso_size
        #expect(Int(coalesced[6]) | Int(coalesced[7]) << 8 == ipLength)  // csum_start
        #expect(Int(coalesced[8]) | Int(coalesced[9]) << 8 == 6)  // csum_offset
        var superPacket = Array(coalesced[10...])
        #expect(superPacket.count == ipLength + 8 + 720)
        #expect(Array(superPacket[(ipLength + 8)...]) == Self.payload(720))
        Self.completeChecksum(&superPacket, start: ipLength, field: ipLength + 6)
        let parsed = try IPPacket(ByteBuffer(bytes: superPacket))
        #expect(parsed.hasValidChecksums, "the field held the pseudo-header sum of the whole super-packet")
        #expect(parsed.udp?.length == UInt16(8 + 720))
        for (index, original) in packets[4...].enumerated() {
            #expect(written[index + 1] == [UInt8](repeating: 0, count: 10) + original)
        }
    }

    @Test(arguments: [false, true])
    func aUDPSuperPacketIsCutIntoDatagramsWithValidChecksums(ipv6: Bool) throws {
        let (writer, reader) = try Self.socketPair()
        defer {
            close(writer)
            close(reader)
        }
        let whole = Self.payload(700)
        var superPacket = try Self.datagram(ipv6: ipv6, payload: whole)
        let ipLength = ipv6 ? 40 : 20
        // What the kernel sends with USO: VIRTIO_NET_HDR_GSO_UDP_L4, datagrams of 300 bytes, the checksum field
        // holding only the pseudo-header sum (any value: each datagram gets its own from scratch).
        var header: [UInt8] = [1, 5]
        for value in [UInt16(ipLength + 8), 300, UInt16(ipLength), 6] {
            header += [UInt8(value & 0xFF), UInt8(value >> 8)]
        }
        superPacket[ipLength + 6] = 0xAB
        let message = header + superPacket
        #expect(message.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) } == message.count)

        let region = UnsafeMutablePointer<UInt8>.allocate(capacity: 8192)
        defer { region.deallocate() }
        var lengths = [UInt32](repeating: 0, count: 8)
        var scratch = [UInt8](repeating: 0, count: 70_000)
        var stride = 0
        let count = fz_tun_read_segments(
            reader,
            &scratch,
            scratch.count,
            region,
            8192,
            16,
            16,
            16,
            &stride,
            &lengths,
            8
        )
        try #require(count == 3)
        for index in 0..<3 {
            let bytes = Array(UnsafeBufferPointer(start: region + index * stride + 16, count: Int(lengths[index])))
            let packet = try IPPacket(ByteBuffer(bytes: bytes))
            #expect(packet.hasValidChecksums, "datagram \(index)")
            #expect(packet.udp?.length == UInt16(8 + (index == 2 ? 100 : 300)))
            #expect(
                Array(packet.payload.readableBytesView) == Array(whole[(index * 300)..<min(700, (index + 1) * 300)])
            )
            if !ipv6 {
                #expect(bytes[4] == superPacket[4] && Int(bytes[5]) == Int(superPacket[5]) + index)
            }
        }
    }
}
