import FirezoneTesting
import IPPacket
import NIOCore
import Testing

/// The Linux kernel as an independent judge: it drops packets whose checksums are wrong, so every answer it
/// gives proves the bytes we built or rewrote, and every answer it builds is a real packet for our parser.
@Suite(.enabled(if: PrivilegedTests.enabled, "needs root: TUN devices and network namespaces"))
struct KernelCrossCheckTests {
    @Test(arguments: [(KernelTunnel.peer4, KernelTunnel.local4), (KernelTunnel.peer6, KernelTunnel.local6)])
    func kernelAnswersOurEchoRequest(peer: IPAddress, local: IPAddress) throws {
        try KernelTunnel.run { tunnel in
            let request = try IPPacket.makeICMPEchoRequest(
                source: peer,
                destination: local,
                identifier: 0x4242,
                sequenceNumber: 7,
                payload: ByteBuffer(string: "firezone")
            )
            try tunnel.write(request)

            let reply = try tunnel.read { $0.icmp?.isEchoReply == true }
            #expect(reply.hasValidChecksums)
            #expect(reply.source == local && reply.destination == peer)
            #expect(reply.icmp?.identifier == 0x4242 && reply.icmp?.sequenceNumber == 7)
            #expect(String(buffer: reply.payload) == "firezone")
        }
    }

    /// The datagram is built for other addresses and ports, then NATed with incremental checksum updates; the
    /// kernel delivers it to the socket only if the UDP checksum is right.
    @Test(arguments: [
        (KernelTunnel.peer4, KernelTunnel.local4, IPAddress("192.0.2.1")!, IPAddress("198.51.100.1")!),
        (KernelTunnel.peer6, KernelTunnel.local6, IPAddress("2001:db8::1")!, IPAddress("2001:db8::2")!),
    ])
    func kernelAcceptsADatagramWeTranslated(
        peer: IPAddress,
        local: IPAddress,
        before: IPAddress,
        after: IPAddress
    )
        throws
    {
        try KernelTunnel.run { tunnel in
            let socket = try BoundSocket(.udp, address: local, port: 5353)
            var packet = try IPPacket.makeUDP(
                source: before,
                sourcePort: 1111,
                destination: after,
                destinationPort: 2222,
                payload: ByteBuffer(string: "translated")
            )
            try packet.translateSource(to: peer, port: 40000)
            try packet.translateDestination(to: local, port: 5353)
            try tunnel.write(packet)

            let received = try socket.receive()
            #expect(received.map { String(decoding: $0, as: UTF8.self) } == "translated")
        }
    }

    /// A datagram to a closed port comes back as the kernel's port unreachable, quoting our packet.
    @Test(arguments: [
        (KernelTunnel.peer4, KernelTunnel.local4, ICMPError.v4Unreachable(code: 3)),
        (KernelTunnel.peer6, KernelTunnel.local6, ICMPError.v6Unreachable(code: 4)),
    ])
    func kernelRefusesAClosedPortWithAnICMPErrorWeParse(
        peer: IPAddress,
        local: IPAddress,
        expected: ICMPError
    )
        throws
    {
        try KernelTunnel.run { tunnel in
            let probe = try IPPacket.makeUDP(
                source: peer,
                sourcePort: 40001,
                destination: local,
                destinationPort: 9,
                payload: ByteBuffer(string: "anyone?")
            )
            try tunnel.write(probe)

            let answer = try tunnel.read { (try? $0.icmpError()) != nil }
            #expect(answer.hasValidChecksums)
            let (error, failed) = try #require(try answer.icmpError())
            #expect(error == expected)
            #expect(failed.source == peer && failed.destination == local)
            #expect(failed.sourceProtocol == .udp(port: 40001))
            #expect(failed.destinationProtocol == .udp(port: 9))
        }
    }

    @Test(arguments: [(KernelTunnel.peer4, KernelTunnel.local4), (KernelTunnel.peer6, KernelTunnel.local6)])
    func kernelAcknowledgesOurSYN(peer: IPAddress, local: IPAddress) throws {
        try KernelTunnel.run { tunnel in
            let listener = try BoundSocket(.tcpListener, address: local, port: 8443)
            _ = listener.fd
            let syn = try IPPacket.makeTCP(
                source: peer,
                sourcePort: 40002,
                destination: local,
                destinationPort: 8443,
                sequenceNumber: 0x1000_0000,
                flags: .syn,
                options: ByteBuffer(bytes: [2, 4, 0x04, 0xC4])
            )
            try tunnel.write(syn)

            let synAck = try tunnel.read { $0.tcp?.flags.contains([.syn, .ack]) == true }
            #expect(synAck.hasValidChecksums)
            #expect(synAck.tcp?.acknowledgmentNumber == 0x1000_0001)
            #expect(try synAck.sourceProtocol() == .tcp(port: 8443))
            #expect(try synAck.destinationProtocol() == .tcp(port: 40002))
        }
    }
}
