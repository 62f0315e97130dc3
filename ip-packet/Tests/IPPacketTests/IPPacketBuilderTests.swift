import FirezoneTesting
import IPPacket
import NIOCore
import Testing

/// The builders produce, byte for byte, what an independent implementation computed (see ``Vectors``).
struct IPPacketBuilderTests {
    @Test func buildsUDPOverIPv4() throws {
        let packet = try IPPacket.makeUDP(
            source: ip("10.0.0.1"),
            sourcePort: 1234,
            destination: ip("10.0.0.2"),
            destinationPort: 53,
            payload: ByteBuffer(string: "hello")
        )
        #expect(hex(packet.buffer) == Vectors.udp4)
    }

    @Test func buildsUDPOverIPv6() throws {
        let packet = try IPPacket.makeUDP(
            source: ip("fd00::1"),
            sourcePort: 1234,
            destination: ip("fd00::2"),
            destinationPort: 53,
            payload: ByteBuffer(string: "hello")
        )
        #expect(hex(packet.buffer) == Vectors.udp6)
    }

    @Test func buildsTCPWithOptionsOverIPv4() throws {
        let packet = try IPPacket.makeTCP(
            source: ip("192.168.1.10"),
            sourcePort: 40000,
            destination: ip("93.184.216.34"),
            destinationPort: 443,
            sequenceNumber: 0x0102_0304,
            flags: .syn,
            window: 64240,
            options: ByteBuffer(bytes: [2, 4, 0x05, 0xB4])
        )
        #expect(hex(packet.buffer) == Vectors.tcp4)
    }

    @Test func buildsTCPWithPayloadOverIPv6() throws {
        let packet = try IPPacket.makeTCP(
            source: ip("fd00:2021:1111::1"),
            sourcePort: 40000,
            destination: ip("2001:db8::80"),
            destinationPort: 80,
            sequenceNumber: 7,
            acknowledgmentNumber: 9,
            flags: [.psh, .ack],
            window: 512,
            payload: ByteBuffer(string: "GET /")
        )
        #expect(hex(packet.buffer) == Vectors.tcp6)
    }

    @Test func buildsICMPEchoRequests() throws {
        let v4 = try IPPacket.makeICMPEchoRequest(
            source: ip("100.64.0.1"),
            destination: ip("10.0.0.5"),
            identifier: 0x1234,
            sequenceNumber: 1,
            payload: ByteBuffer(string: "ping")
        )
        #expect(hex(v4.buffer) == Vectors.icmp4)
        let v6 = try IPPacket.makeICMPEchoRequest(
            source: ip("fd00::1"),
            destination: ip("fd00::5"),
            identifier: 0x1234,
            sequenceNumber: 1,
            payload: ByteBuffer(string: "ping")
        )
        #expect(hex(v6.buffer) == Vectors.icmp6)
    }

    @Test(arguments: ["10.0.0.1", "fd00::1"])
    func buildsICMPEchoRepliesThatAnswerTheRequest(sourceText: String) throws {
        let source = ip(sourceText)
        let destination = source.version == .v4 ? ip("10.0.0.9") : ip("fd00::9")
        let reply = try IPPacket.makeICMPEchoReply(
            source: source,
            destination: destination,
            identifier: 7,
            sequenceNumber: 3
        )
        let icmp = try #require(reply.icmp)
        #expect(icmp.isEchoReply && !icmp.isEchoRequest)
        #expect(icmp.identifier == 7 && icmp.sequenceNumber == 3)
        #expect(try reply.sourceProtocol() == .icmpEcho(identifier: 7))
        #expect(reply.hasValidChecksums)
    }

    @Test func refusesPayloadsThatDoNotFitTheMTU() {
        #expect(throws: IPPacketError.self) {
            try IPPacket.makeUDP(
                source: ip("fd00::1"),
                sourcePort: 1,
                destination: ip("fd00::2"),
                destinationPort: 2,
                payload: ByteBuffer(repeating: 0, count: 1280 - 48 + 1)
            )
        }
    }

    @Test func readsTheTCPHeaderFields() throws {
        let packet = try IPPacket(buffer(hex: Vectors.tcp6))
        let tcp = try #require(packet.tcp)
        #expect(tcp.sourcePort == 40000 && tcp.destinationPort == 80)
        #expect(tcp.sequenceNumber == 7 && tcp.acknowledgmentNumber == 9)
        #expect(tcp.flags == [.psh, .ack] && tcp.window == 512 && tcp.headerLength == 20)
        #expect(String(buffer: packet.payload) == "GET /")
        #expect(packet.udp == nil && packet.icmp == nil)
    }

    @Test func readsTheIPHeaderFields() throws {
        let packet = try IPPacket(buffer(hex: Vectors.udp6))
        #expect(packet.version == .v6)
        #expect(packet.source == ip("fd00::1") && packet.destination == ip("fd00::2"))
        #expect(packet.hopLimit == 64 && packet.ecn == .notECT)
        #expect(try packet.sourceProtocol() == .udp(port: 1234))
        #expect(try packet.destinationProtocol() == .udp(port: 53))
        #expect(packet.udp?.length == 13)
        #expect(String(buffer: packet.payload) == "hello")
    }

    // MARK: Peer-to-peer control (Firezone's connlib, rust/connlib/tunnel)

    @Test func framesP2PControlMessages() throws {
        let body = ByteBuffer(string: #"{"resource":"r","domain":"app.example","status":"Active"}"#)
        let packet = try IPPacket.makeFZP2PControl(eventType: .domainStatus, body: body)
        #expect(packet.version == .v6 && packet.hopLimit == 0)
        #expect(packet.ipProtocol == .firezoneP2PControl)
        #expect(packet.source == .v6(.unspecified) && packet.destination == .v6(.unspecified))

        let control = try #require(try IPPacket(packet.buffer).fzP2PControl)
        #expect(control.eventType == .domainStatus)
        #expect(hex(control.header) == "0100000000000000")
        #expect(control.body == body)
    }

    @Test func framesAnEmptyGoodbye() throws {
        let packet = try IPPacket.makeFZP2PControl(eventType: .goodbye, body: ByteBuffer())
        #expect(packet.length == 48)
        #expect(packet.fzP2PControl?.eventType == .goodbye)
        #expect(packet.fzP2PControl?.body.readableBytes == 0)
    }

    @Test func anOrdinaryIPv6PacketIsNotAControlPacket() throws {
        #expect(try IPPacket(buffer(hex: Vectors.udp6)).fzP2PControl == nil)
    }
}
