import NIOCore

/// Why a gateway or client refuses a packet with an ICMP destination unreachable (Firezone's connlib, rust/connlib/tunnel).
public enum DestinationUnreachableReason: Hashable, Sendable {
    /// ICMPv4 type 3 code 13, ICMPv6 type 1 code 1: a filter or missing authorization denies the packet.
    case administrativelyProhibited
    /// ICMPv4 type 3 code 0, ICMPv6 type 1 code 3: there is no route for the destination.
    case networkUnreachable

    var icmpCode: (v4: UInt8, v6: UInt8) {
        switch self {
        case .administrativelyProhibited: (13, 1)
        case .networkUnreachable: (0, 3)
        }
    }
}

extension IPPacket {
    /// A UDP packet with a computed checksum.
    public static func makeUDP(
        source: IPAddress,
        sourcePort: UInt16,
        destination: IPAddress,
        destinationPort: UInt16,
        payload: ByteBuffer,
        hopLimit: UInt8 = IPPacketConstants.defaultHopLimit,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(IPPacketError) -> IPPacket {
        let segmentLength = IPPacketConstants.udpHeaderLength + payload.readableBytes
        return try Self.assemble(
            source: source,
            destination: destination,
            ipProtocol: .udp,
            hopLimit: hopLimit,
            transportLength: segmentLength,
            allocator: allocator
        ) { buffer in
            buffer.writeInteger(sourcePort)
            buffer.writeInteger(destinationPort)
            buffer.writeInteger(UInt16(segmentLength))
            buffer.writeInteger(UInt16(0))
            buffer.writeImmutableBuffer(payload)
        }
    }

    /// A TCP segment with a computed checksum. `options` must be a multiple of four bytes long.
    public static func makeTCP(
        source: IPAddress,
        sourcePort: UInt16,
        destination: IPAddress,
        destinationPort: UInt16,
        sequenceNumber: UInt32,
        acknowledgmentNumber: UInt32 = 0,
        flags: TCPFlags,
        window: UInt16 = 65535,
        options: ByteBuffer = ByteBuffer(),
        payload: ByteBuffer = ByteBuffer(),
        hopLimit: UInt8 = IPPacketConstants.defaultHopLimit,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(IPPacketError) -> IPPacket {
        precondition(options.readableBytes % 4 == 0, "TCP options are padded to 32-bit words")
        precondition(options.readableBytes <= 40, "TCP options take at most 40 bytes")
        let headerLength = IPPacketConstants.tcpMinimumHeaderLength + options.readableBytes
        return try Self.assemble(
            source: source,
            destination: destination,
            ipProtocol: .tcp,
            hopLimit: hopLimit,
            transportLength: headerLength + payload.readableBytes,
            allocator: allocator
        ) { buffer in
            buffer.writeInteger(sourcePort)
            buffer.writeInteger(destinationPort)
            buffer.writeInteger(sequenceNumber)
            buffer.writeInteger(acknowledgmentNumber)
            buffer.writeInteger(UInt8(headerLength / 4) << 4)
            buffer.writeInteger(flags.rawValue)
            buffer.writeInteger(window)
            buffer.writeInteger(UInt16(0))  // checksum
            buffer.writeInteger(UInt16(0))  // urgent pointer
            buffer.writeImmutableBuffer(options)
            buffer.writeImmutableBuffer(payload)
        }
    }

    /// An ICMP (IPv4) or ICMPv6 (IPv6) echo request.
    public static func makeICMPEchoRequest(
        source: IPAddress,
        destination: IPAddress,
        identifier: UInt16,
        sequenceNumber: UInt16,
        payload: ByteBuffer = ByteBuffer(),
        hopLimit: UInt8 = IPPacketConstants.defaultHopLimit,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(IPPacketError) -> IPPacket {
        let type = source.version == .v4 ? ICMPHeader.v4EchoRequest : ICMPHeader.v6EchoRequest
        return try Self.makeICMP(
            source: source,
            destination: destination,
            type: type,
            code: 0,
            restOfHeader: UInt32(identifier) << 16 | UInt32(sequenceNumber),
            body: payload,
            hopLimit: hopLimit,
            allocator: allocator
        )
    }

    /// An ICMP (IPv4) or ICMPv6 (IPv6) echo reply.
    public static func makeICMPEchoReply(
        source: IPAddress,
        destination: IPAddress,
        identifier: UInt16,
        sequenceNumber: UInt16,
        payload: ByteBuffer = ByteBuffer(),
        hopLimit: UInt8 = IPPacketConstants.defaultHopLimit,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(IPPacketError) -> IPPacket {
        let type = source.version == .v4 ? ICMPHeader.v4EchoReply : ICMPHeader.v6EchoReply
        return try Self.makeICMP(
            source: source,
            destination: destination,
            type: type,
            code: 0,
            restOfHeader: UInt32(identifier) << 16 | UInt32(sequenceNumber),
            body: payload,
            hopLimit: hopLimit,
            allocator: allocator
        )
    }

    /// The ICMP destination unreachable that refuses `original` (Firezone's connlib, rust/connlib/tunnel): from the original destination
    /// to the original source, TTL 20, quoting the IPv4 header plus 8 bytes, or in IPv6 as much of the original
    /// as fits in the minimum MTU.
    public static func makeICMPDestinationUnreachable(
        for original: IPPacket,
        reason: DestinationUnreachableReason,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) -> IPPacket {
        let quoteLength: Int
        let type: UInt8
        let code: UInt8
        switch original.version {
        case .v4:
            // RFC 792: "Internet Header + 64 bits of Original Data Datagram".
            quoteLength = min(
                original.length,
                original.transportOffset + IPPacketConstants.icmpv4ErrorOriginalDataLength
            )
            type = ICMPHeader.v4DestinationUnreachable
            code = reason.icmpCode.v4
        case .v6:
            // RFC 4443 §3.1: "As much of invoking packet as possible without the ICMPv6 packet exceeding the
            // minimum IPv6 MTU".
            quoteLength = min(
                original.length,
                IPPacketConstants.maximumPacketLength - IPPacketConstants.ipv6HeaderLength
                    - IPPacketConstants.icmpHeaderLength
            )
            type = ICMPHeader.v6DestinationUnreachable
            code = reason.icmpCode.v6
        }
        let quote = original.buffer.getSlice(at: original.buffer.readerIndex, length: quoteLength)!
        do {
            return try Self.makeICMP(
                source: original.destination,
                destination: original.source,
                type: type,
                code: code,
                restOfHeader: 0,
                body: quote,
                hopLimit: IPPacketConstants.generatedICMPErrorHopLimit,
                allocator: allocator
            )
        } catch {
            preconditionFailure("an ICMP error sized to fit the minimum MTU is a valid packet: \(error)")
        }
    }

    /// A Firezone peer-to-peer control packet (Firezone's connlib, rust/connlib/tunnel): IPv6 from `::` to `::`, next header 0xFF,
    /// hop limit 0, an 8-byte header holding the event type, then the body.
    public static func makeFZP2PControl(
        eventType: FZP2PControl.EventType,
        body: ByteBuffer,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(IPPacketError) -> IPPacket {
        try Self.assemble(
            source: .v6(.unspecified),
            destination: .v6(.unspecified),
            ipProtocol: .firezoneP2PControl,
            hopLimit: 0,
            transportLength: FZP2PControl.headerLength + body.readableBytes,
            allocator: allocator
        ) { buffer in
            buffer.writeInteger(eventType.rawValue)
            buffer.writeRepeatingByte(0, count: FZP2PControl.headerLength - 1)
            buffer.writeImmutableBuffer(body)
        }
    }

    private static func makeICMP(
        source: IPAddress,
        destination: IPAddress,
        type: UInt8,
        code: UInt8,
        restOfHeader: UInt32,
        body: ByteBuffer,
        hopLimit: UInt8,
        allocator: ByteBufferAllocator
    ) throws(IPPacketError) -> IPPacket {
        try Self.assemble(
            source: source,
            destination: destination,
            ipProtocol: source.version == .v4 ? .icmp : .icmpv6,
            hopLimit: hopLimit,
            transportLength: IPPacketConstants.icmpHeaderLength + body.readableBytes,
            allocator: allocator
        ) { buffer in
            buffer.writeInteger(type)
            buffer.writeInteger(code)
            buffer.writeInteger(UInt16(0))
            buffer.writeInteger(restOfHeader)
            buffer.writeImmutableBuffer(body)
        }
    }

    /// Writes an IP header without options or extension headers, lets `writeTransport` append the transport
    /// segment with a zero checksum, validates the result and computes its checksums.
    private static func assemble(
        source: IPAddress,
        destination: IPAddress,
        ipProtocol: IPProtocol,
        hopLimit: UInt8,
        transportLength: Int,
        allocator: ByteBufferAllocator,
        writeTransport: (inout ByteBuffer) -> Void
    ) throws(IPPacketError) -> IPPacket {
        precondition(
            source.version == destination.version,
            "source \(source) and destination \(destination) differ in IP version"
        )
        let headerLength =
            source.version == .v4 ? IPPacketConstants.ipv4MinimumHeaderLength : IPPacketConstants.ipv6HeaderLength
        guard headerLength + transportLength <= IPPacketConstants.maximumPacketLength else {
            throw IPPacketError(.payloadTooLong(length: transportLength), source: source, destination: destination)
        }

        var buffer = allocator.buffer(capacity: headerLength + transportLength)
        switch (source, destination) {
        case (.v4(let source), .v4(let destination)):
            buffer.writeInteger(UInt8(0x45))  // version 4, IHL 5
            buffer.writeInteger(UInt8(0))  // DSCP and ECN
            buffer.writeInteger(UInt16(headerLength + transportLength))
            buffer.writeInteger(UInt16(0))  // identification: unfragmented packets need none (RFC 6864 §4.1)
            buffer.writeInteger(UInt16(0))  // flags and fragment offset
            buffer.writeInteger(hopLimit)
            buffer.writeInteger(ipProtocol.rawValue)
            buffer.writeInteger(UInt16(0))  // header checksum
            buffer.writeInteger(source.rawValue)
            buffer.writeInteger(destination.rawValue)
        case (.v6(let source), .v6(let destination)):
            buffer.writeInteger(UInt32(6) << 28)  // version 6, traffic class and flow label 0
            buffer.writeInteger(UInt16(transportLength))
            buffer.writeInteger(ipProtocol.rawValue)
            buffer.writeInteger(hopLimit)
            buffer.writeInteger(source.high)
            buffer.writeInteger(source.low)
            buffer.writeInteger(destination.high)
            buffer.writeInteger(destination.low)
        case (.v4, .v6), (.v6, .v4):
            preconditionFailure("unreachable: the versions were checked above")
        }
        writeTransport(&buffer)
        precondition(buffer.readableBytes == headerLength + transportLength, "the transport writer wrote its length")

        var packet = try IPPacket(buffer)
        packet.computeChecksums()
        return packet
    }
}
