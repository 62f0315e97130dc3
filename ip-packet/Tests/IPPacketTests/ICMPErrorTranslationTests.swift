import IPPacket
import NIOCore
import Testing

/// `translateICMPError` refuses, untouched, what it cannot translate: bad input never traps.
struct ICMPErrorTranslationTests {
    static let router = IPAddress("198.51.100.1")!
    static let proxy = IPAddress("100.96.0.1")!

    @Test func packetThatIsNoICMPErrorIsLeftUntouched() throws {
        var packet = try IPPacket.makeUDP(
            source: ip("100.64.0.7"),
            sourcePort: 5000,
            destination: ip("203.0.113.10"),
            destinationPort: 53,
            payload: ByteBuffer(string: "query")
        )
        let before = Array(packet.buffer.readableBytesView)
        let translated = packet.translateICMPError(
            source: Self.proxy,
            quotedDestination: Self.proxy,
            quotedSourceValue: 1
        )
        #expect(!translated)
        #expect(Array(packet.buffer.readableBytesView) == before)
    }

    /// An ICMPv4 destination unreachable whose quote ends two bytes into the UDP header: too short to name both
    /// ports (RFC 792 asks for 8 bytes), so the NAT cannot tell the session.
    @Test func quoteTooShortForThePortIsLeftUntouched() throws {
        var bytes = ByteBuffer()
        let quoteLength = 20 + 2
        // Outer IPv4 header: router → client, ICMP.
        bytes.writeInteger(UInt8(0x45))
        bytes.writeInteger(UInt8(0))
        bytes.writeInteger(UInt16(20 + 8 + quoteLength))
        bytes.writeInteger(UInt32(0))
        bytes.writeInteger(UInt8(64))
        bytes.writeInteger(UInt8(1))
        bytes.writeInteger(UInt16(0))
        bytes.writeInteger(UInt32(0xC633_6401))  // 198.51.100.1
        bytes.writeInteger(UInt32(0x6440_0007))  // 100.64.0.7
        // ICMP destination unreachable, host unreachable.
        bytes.writeInteger(UInt8(3))
        bytes.writeInteger(UInt8(1))
        bytes.writeInteger(UInt16(0))
        bytes.writeInteger(UInt32(0))
        // Quoted IPv4 header: client → real IP, UDP; then the first two bytes of the UDP header.
        bytes.writeInteger(UInt8(0x45))
        bytes.writeInteger(UInt8(0))
        bytes.writeInteger(UInt16(36))
        bytes.writeInteger(UInt32(0))
        bytes.writeInteger(UInt8(64))
        bytes.writeInteger(UInt8(17))
        bytes.writeInteger(UInt16(0))
        bytes.writeInteger(UInt32(0x6440_0007))  // 100.64.0.7
        bytes.writeInteger(UInt32(0xCB00_710A))  // 203.0.113.10
        bytes.writeInteger(UInt16(5000))
        var packet = try IPPacket(bytes)
        packet.computeChecksums()
        let before = Array(packet.buffer.readableBytesView)

        let translated = packet.translateICMPError(
            source: Self.proxy,
            quotedDestination: Self.proxy,
            quotedSourceValue: 1
        )
        #expect(!translated)
        #expect(Array(packet.buffer.readableBytesView) == before)
    }

    @Test func addressOfTheOtherFamilyIsRefused() throws {
        let original = try IPPacket.makeUDP(
            source: ip("100.64.0.7"),
            sourcePort: 5000,
            destination: ip("203.0.113.10"),
            destinationPort: 53,
            payload: ByteBuffer(string: "query")
        )
        var error = IPPacket.makeICMPDestinationUnreachable(for: original, reason: .networkUnreachable)
        let before = Array(error.buffer.readableBytesView)
        let proxyV6 = IPAddress("fd00:2021:1111:8000::1")!
        let translated = error.translateICMPError(source: proxyV6, quotedDestination: proxyV6, quotedSourceValue: 1)
        #expect(!translated)
        #expect(Array(error.buffer.readableBytesView) == before)
    }
}
