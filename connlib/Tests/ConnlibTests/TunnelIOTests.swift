import Connlib
import FirezoneTesting
import Glibc
import IPPacket
import LinuxIO
import NIOCore
import Snownet
import Testing

/// ``TunnelSockets`` sets SO_MARK, which needs CAP_NET_ADMIN: these run as root (PrivilegedTests). No TUN device is
/// registered, so every packet the driver is handed to write is counted as a TUN write failure: the count says how
/// many packets reached the driver.
@Suite(.enabled(if: PrivilegedTests.enabled))
struct TunnelIOTests {
    private static let buffers = UDPSocketBuffers(sendSize: 1 << 16, receiveSize: 1 << 16, raisesKernelLimits: false)

    private func packet(payloadLength: Int) throws -> IPPacket {
        try IPPacket.makeUDP(
            source: .v4(IPv4Address(rawValue: 0x0A00_0001)),
            sourcePort: 1000,
            destination: .v4(IPv4Address(rawValue: 0x0A00_0002)),
            destinationPort: 53,
            payload: ByteBuffer(repeating: 0xAB, count: payloadLength)
        )
    }

    @Test func aFullTUNArenaIsWrittenEarlyInsteadOfDroppingThePacket() throws {
        let driver = try EventLoopDriver()
        let sockets = try TunnelSockets(buffers: Self.buffers, port: 0)
        defer { sockets.close() }
        let packet = try self.packet(payloadLength: 100)
        // Room for one packet with its virtio-net header, not two.
        let io = TunnelIO(
            driver: driver,
            sockets: sockets,
            tunArenaCapacity: Int(FZ_VNET_HEADER_LENGTH) + packet.buffer.readableBytes + 10
        )
        #expect(io.queueTUNWrite(packet))
        #expect(io.queueTUNWrite(packet))
        io.flush()
        #expect(driver.counters.tunWriteFailures == 2)
    }

    @Test func aPacketLargerThanTheTUNArenaIsDroppedAndNeverReachesTheDriver() throws {
        let driver = try EventLoopDriver()
        let sockets = try TunnelSockets(buffers: Self.buffers, port: 0)
        defer { sockets.close() }
        let io = TunnelIO(driver: driver, sockets: sockets, tunArenaCapacity: 64)
        #expect(!io.queueTUNWrite(try self.packet(payloadLength: 100)))
        io.flush()
        #expect(driver.counters.tunWriteFailures == 0)
    }

    @Test func aDatagramsLocalAddressIsTheRouteTowardItsSenderOnTheReceivingSocketsPort() throws {
        let driver = try EventLoopDriver()
        let sockets = try TunnelSockets(buffers: Self.buffers, port: 0)
        defer { sockets.close() }
        let io = TunnelIO(driver: driver, sockets: sockets)
        let loopback = IPAddress.v4(IPv4Address(rawValue: 0x7F00_0001))
        let local = io.localAddress(ofDatagramFrom: IPSocketAddress(loopback, port: 4000), onIPv6: false)
        #expect(local == IPSocketAddress(loopback, port: TunnelSockets.localPort(of: sockets.ipv4)!))
    }

    /// The last sender's answer is kept for the run of datagrams from it; a datagram from another sender gets the
    /// route toward its own.
    @Test func eachSendersDatagramsGetTheRouteTowardThatSender() throws {
        let driver = try EventLoopDriver()
        let sockets = try TunnelSockets(buffers: Self.buffers, port: 0)
        defer { sockets.close() }
        let io = TunnelIO(driver: driver, sockets: sockets)
        let loopbackV4 = IPAddress.v4(IPv4Address(rawValue: 0x7F00_0001))
        let loopbackV6 = IPAddress.v6(IPv6Address(high: 0, low: 1))
        let senders = [loopbackV4, loopbackV4, loopbackV6, loopbackV4]
        let locals = senders.map { sender in
            io.localAddress(ofDatagramFrom: IPSocketAddress(sender, port: 4000), onIPv6: sender.version == .v6).address
        }
        #expect(locals == senders)
    }

    /// Every address of 127.0.0.0/8 is the host's (RFC 1122 §3.2.1.3): a transmit's source picks one, and the
    /// route would pick 127.0.0.1.
    @Test func aTransmitLeavesFromItsSourceAddressOrTheRoutesWithoutOne() throws {
        let driver = try EventLoopDriver()
        let sockets = try TunnelSockets(buffers: Self.buffers, port: 0)
        defer { sockets.close() }
        let io = TunnelIO(driver: driver, sockets: sockets)
        let loopback = IPAddress.v4(IPv4Address(rawValue: 0x7F00_0001))
        let secondLoopback = IPAddress.v4(IPv4Address(rawValue: 0x7F00_0002))
        let receiver = bindUDP(loopback, port: 0, receiveBuffer: 1 << 16, sendBuffer: 1 << 16)
        try #require(receiver >= 0)
        defer { _ = close(receiver) }
        let destination = IPSocketAddress(loopback, port: UInt16(fz_udp_local_port(receiver)))

        io.queueSend(
            NodeTransmit(
                source: IPSocketAddress(secondLoopback, port: 52625),
                destination: destination,
                payload: ByteBuffer(bytes: [1])
            )
        )
        io.queueSend(NodeTransmit(source: nil, destination: destination, payload: ByteBuffer(bytes: [2])))
        io.flush()

        var senders: [UInt8: IPAddress] = [:]
        var buffer = [UInt8](repeating: 0, count: 64)
        for _ in 0..<2000 where senders.count < 2 {
            var datagram = fz_datagram()
            let received = buffer.withUnsafeMutableBufferPointer { bytes in
                datagram.bytes = bytes.baseAddress
                datagram.capacity = UInt32(bytes.count)
                return fz_udp_receive_batch(receiver, &datagram, 1)
            }
            if received == 1 {
                senders[buffer[0]] = datagram.socketAddress.address
            } else {
                usleep(1000)
            }
        }
        #expect(senders == [1: secondLoopback, 2: loopback])
        #expect(driver.counters.datagramsNotSent == 0)
    }
}
