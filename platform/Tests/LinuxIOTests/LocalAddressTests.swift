import FirezoneTime
import Glibc
import IPPacket
import LinuxIO
import NIOCore
import Testing

/// A datagram's local address over real sockets bound to the wildcard address: received with IP_PKTINFO /
/// IPV6_RECVPKTINFO, sent from with an IP_PKTINFO / IPV6_PKTINFO control message. Every address of 127.0.0.0/8 is
/// the host's own (RFC 1122 §3.2.1.3), so the loopback device gives a host with many addresses without a namespace.
struct LocalAddressTests {
    static let loopback = IPAddress.v4(IPv4Address(rawValue: 0x7F00_0001))
    static let secondLoopback = IPAddress.v4(IPv4Address(rawValue: 0x7F00_0002))
    static let thirdLoopback = IPAddress.v4(IPv4Address(rawValue: 0x7F00_0003))
    /// RFC 5737 TEST-NET-1: never one of the host's addresses.
    static let documentation = IPAddress.v4(IPv4Address(rawValue: 0xC000_0201))
    static let loopbackV6 = IPAddress.v6(IPv6Address(high: 0, low: 1))
    /// RFC 3849: never one of the host's addresses.
    static let documentationV6 = IPAddress.v6(IPv6Address(high: 0x2001_0DB8_0000_0000, low: 1))

    @Test(arguments: [SendCall.batch, .coalesced])
    func aWildcardSocketSendsFromTheSourceAskedFor(_ call: SendCall) throws {
        let receiver = try WildcardSocket(.v4)
        let sender = try WildcardSocket(.v4)

        let result = sender.send(
            [
                .init(payload: [1], to: Self.loopback, port: receiver.port, from: Self.secondLoopback),
                .init(payload: [2], to: Self.loopback, port: receiver.port, from: Self.thirdLoopback),
                .init(payload: [3], to: Self.loopback, port: receiver.port, from: nil),
            ],
            with: call
        )

        #expect(result.sent == 3 && result.failed == 0)
        // A coalesced send groups datagrams by source, so the order across sources is its own.
        let received = try receiver.receive(count: 3).sorted { $0.payload.lexicographicallyPrecedes($1.payload) }
        #expect(received.map(\.payload) == [[1], [2], [3]])
        #expect(received.map(\.sender) == [Self.secondLoopback, Self.thirdLoopback, Self.loopback])
    }

    @Test func aWildcardSocketReportsTheAddressEachDatagramArrivedOn() throws {
        let receiver = try WildcardSocket(.v4)
        let sender = try WildcardSocket(.v4)

        _ = sender.send(
            [
                .init(payload: [1], to: Self.secondLoopback, port: receiver.port, from: nil),
                .init(payload: [2], to: Self.thirdLoopback, port: receiver.port, from: nil),
            ],
            with: .batch
        )

        let received = try receiver.receive(count: 2)
        #expect(received.map(\.local) == [Self.secondLoopback, Self.thirdLoopback])
    }

    @Test func anIPv6SocketSendsFromAndReportsItsLocalAddress() throws {
        let receiver = try WildcardSocket(.v6)
        let sender = try WildcardSocket(.v6)

        let result = sender.send(
            [
                .init(payload: [1], to: Self.loopbackV6, port: receiver.port, from: Self.documentationV6),
                .init(payload: [2], to: Self.loopbackV6, port: receiver.port, from: Self.loopbackV6),
            ],
            with: .coalesced
        )

        #expect(result.sent == 2 && result.failed == 1, "the source that is not the host's is refused")
        let received = try receiver.receive(count: 1)
        #expect(received.map(\.payload) == [[2]])
        #expect(received.map(\.sender) == [Self.loopbackV6])
        #expect(received.map(\.local) == [Self.loopbackV6])
    }

    @Test(arguments: [SendCall.batch, .coalesced])
    func aSourceThatIsNotTheHostsIsRefusedAndCountedWhileTheRestLeave(_ call: SendCall) throws {
        let receiver = try WildcardSocket(.v4)
        let sender = try WildcardSocket(.v4)

        let result = sender.send(
            [
                .init(payload: [1], to: Self.loopback, port: receiver.port, from: Self.documentation),
                .init(payload: [2], to: Self.loopback, port: receiver.port, from: Self.secondLoopback),
            ],
            with: call
        )

        #expect(result.sent == 2 && result.failed == 1)
        let received = try receiver.receive(count: 1)
        #expect(received.map(\.payload) == [[2]])
        #expect(received.map(\.sender) == [Self.secondLoopback])
    }

    @Test(arguments: [SendCall.batch, .coalesced])
    func aSourceOfTheOtherFamilyIsRefusedAndCountedWhileTheRestLeave(_ call: SendCall) throws {
        let receiver = try WildcardSocket(.v4)
        let sender = try WildcardSocket(.v4)

        let result = sender.send(
            [
                .init(payload: [1], to: Self.loopback, port: receiver.port, from: nil),
                .init(payload: [2], to: Self.loopback, port: receiver.port, from: Self.loopbackV6),
                .init(payload: [3], to: Self.loopback, port: receiver.port, from: nil),
            ],
            with: call
        )

        #expect(result.sent == 3 && result.failed == 1)
        let received = try receiver.receive(count: 2)
        #expect(received.map(\.payload) == [[1], [3]])
    }

    @Test func equalDatagramsFromTwoSourcesLeaveAsOneRunPerSourceInOrder() throws {
        let receiver = try WildcardSocket(.v4, gro: true)
        let sender = try WildcardSocket(.v4)
        var batch: [WildcardSocket.Outgoing] = []
        for index in 0..<8 {
            batch.append(
                .init(payload: [UInt8(index), 0xA], to: Self.loopback, port: receiver.port, from: Self.secondLoopback)
            )
            batch.append(
                .init(payload: [UInt8(index), 0xB], to: Self.loopback, port: receiver.port, from: Self.thirdLoopback)
            )
        }

        let result = sender.send(batch, with: .coalesced)

        #expect(result.sent == 16 && result.failed == 0 && result.gsoDisabled == 0)
        let received = try receiver.receive(count: 16)
        let fromSecond = received.filter { $0.sender == Self.secondLoopback }.map(\.payload)
        let fromThird = received.filter { $0.sender == Self.thirdLoopback }.map(\.payload)
        #expect(fromSecond == (0..<8).map { [UInt8($0), 0xA] })
        #expect(fromThird == (0..<8).map { [UInt8($0), 0xB] })
    }
}

/// The driver's part: a handler sees each datagram's local address and answers from it, as the relay does.
struct EventLoopDriverLocalAddressTests {
    @Test func aHandlerAnswersEachDatagramFromTheAddressItWasSentTo() throws {
        let driver = try EventLoopDriver()
        let server = try WildcardSocket(.v4)
        let client = try WildcardSocket(.v4)
        try driver.register(udp: server.fd, token: 1)
        let handler = AnsweringHandler(driver: driver, fd: server.fd)

        _ = client.send(
            [
                .init(payload: [2], to: LocalAddressTests.secondLoopback, port: server.port, from: nil),
                .init(payload: [3], to: LocalAddressTests.thirdLoopback, port: server.port, from: nil),
            ],
            with: .batch
        )
        try driver.turn(handler)

        #expect(handler.locals == [LocalAddressTests.secondLoopback, LocalAddressTests.thirdLoopback])
        let answers = try client.receive(count: 2).sorted { $0.payload.lexicographicallyPrecedes($1.payload) }
        #expect(answers.map(\.payload) == [[2], [3]])
        #expect(answers.map(\.sender) == [LocalAddressTests.secondLoopback, LocalAddressTests.thirdLoopback])
    }
}

/// Echoes every datagram to its sender from the address it arrived on, recording that address.
private final class AnsweringHandler: EventLoopHandler {
    let driver: EventLoopDriver
    let fd: Int32
    var locals: [IPAddress?] = []

    init(driver: EventLoopDriver, fd: Int32) {
        self.driver = driver
        self.fd = fd
    }

    func nextDeadline() -> Instant? {
        self.driver.clock.now() + .seconds(3600)
    }

    func handleTimeout(now: Instant) {}

    func handleDatagram(_ datagram: inout ByteBuffer, received: fz_datagram, source: UInt64, now: Instant) {
        self.locals.append(received.localAddress)
        var out = fz_datagram()
        out.bytes = received.bytes + datagram.readerIndex
        out.length = UInt32(datagram.readableBytes)
        out.setDestination(received.socketAddress)
        out.localAddress = received.localAddress
        self.driver.queueSend(out, on: self.fd)
    }
}

enum SendCall: CustomStringConvertible {
    /// `fz_udp_send_batch`: one message per datagram.
    case batch
    /// `fz_udp_send_coalesced`: UDP GSO runs.
    case coalesced

    var description: String {
        switch self {
        case .batch: "sendmmsg"
        case .coalesced: "sendmmsg with UDP GSO"
        }
    }
}

/// A UDP socket bound to the wildcard address of its family, reporting each datagram's local address, closed when
/// the test's value goes away.
final class WildcardSocket {
    struct Outgoing {
        var payload: [UInt8]
        var to: IPAddress
        var port: UInt16
        var from: IPAddress?
    }

    struct Incoming: Equatable {
        var payload: [UInt8]
        var sender: IPAddress
        var local: IPAddress?
    }

    let fd: Int32
    let port: UInt16

    init(_ family: IPVersion, gro: Bool = false) throws {
        let wildcard: IPAddress = family == .v4 ? .v4(IPv4Address(rawValue: 0)) : .v6(IPv6Address(high: 0, low: 0))
        let fd = bindUDP(wildcard, port: 0, receiveBuffer: 1 << 20, sendBuffer: 1 << 20)
        try #require(fd >= 0, "bind: errno \(-fd)")
        self.fd = fd
        try #require(fz_udp_enable_local_address(fd, family.rawValue) == 0, "IP_PKTINFO")
        if gro {
            try #require(fz_udp_enable_gro(fd) == 0, "UDP_GRO")
        }
        self.port = UInt16(fz_udp_local_port(fd))
    }

    deinit {
        close(self.fd)
    }

    func send(_ batch: [Outgoing], with call: SendCall) -> (sent: Int, failed: Int, gsoDisabled: UInt8) {
        let storage = batch.map { UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max($0.payload.count, 1)) }
        defer { for buffer in storage { buffer.deallocate() } }
        var datagrams = batch.enumerated().map { index, entry in
            _ = storage[index].initialize(from: entry.payload)
            var datagram = fz_datagram()
            datagram.bytes = storage[index].baseAddress
            datagram.length = UInt32(entry.payload.count)
            datagram.setDestination(IPSocketAddress(entry.to, port: entry.port))
            datagram.localAddress = entry.from
            return datagram
        }
        var failed: UInt32 = 0
        var gsoDisabled: UInt8 = 0
        let sent =
            switch call {
            case .batch: fz_udp_send_batch(self.fd, &datagrams, UInt32(datagrams.count), &failed)
            case .coalesced:
                fz_udp_send_coalesced(self.fd, &datagrams, UInt32(datagrams.count), &failed, &gsoDisabled)
            }
        return (Int(sent), Int(failed), gsoDisabled)
    }

    /// Receives `count` datagrams (each of a GRO buffer counted, all carrying the buffer's addresses), waiting up
    /// to 2 s.
    func receive(count: Int) throws -> [Incoming] {
        var received: [Incoming] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var waited = 0
        while received.count < count {
            var datagram = fz_datagram()
            let got = buffer.withUnsafeMutableBufferPointer { bytes in
                datagram.bytes = bytes.baseAddress
                datagram.capacity = UInt32(bytes.count)
                return fz_udp_receive_batch(self.fd, &datagram, 1)
            }
            if got == 0 {
                try #require(waited < 2000, "only \(received.count) of \(count) datagrams arrived")
                usleep(1000)
                waited += 1
                continue
            }
            try #require(got == 1)
            let bytes = Array(buffer[0..<Int(datagram.length)])
            let size = datagram.segment_size > 0 ? Int(datagram.segment_size) : max(bytes.count, 1)
            for start in stride(from: 0, to: bytes.count, by: size) {
                received.append(
                    Incoming(
                        payload: Array(bytes[start..<min(start + size, bytes.count)]),
                        sender: datagram.socketAddress.address,
                        local: datagram.localAddress
                    )
                )
            }
        }
        return received
    }
}
