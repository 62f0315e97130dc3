import FuzzSupport
import IPPacket
import NIOCore

// MARK: Reading ICMP errors

/// Puts arbitrary bytes (the fuzz input's packet part) into an ICMP error of each IP version, so that the
/// reading of quoted packets sees every kind of quote, and compares `icmpError()` with the reference.
func checkQuotes(of raw: [UInt8]) {
    let count = raw.count
    let v4Type: UInt8 = count % 2 == 0 ? ICMPHeader.v4DestinationUnreachable : ICMPHeader.v4TimeExceeded
    let v6Types = [ICMPHeader.v6DestinationUnreachable, ICMPHeader.v6PacketTooBig, ICMPHeader.v6TimeExceeded]
    let packets = [
        icmpErrorBytes(.v4, type: v4Type, code: UInt8(count % 16), restOfHeader: 0, quote: raw),
        icmpErrorBytes(.v6, type: v6Types[count % 3], code: UInt8(count % 7), restOfHeader: UInt32(count), quote: raw),
    ]
    for bytes in packets {
        do throws(IPPacketError) {
            // checkAccessors compares icmpError() with the reference reading of the quote.
            checkAccessors(try IPPacket(ByteBuffer(bytes: bytes)), "(an ICMP error quoting the input)")
        } catch {
            fatalError("an ICMP error \(hex(bytes)) built by the harness does not parse: \(error)")
        }
    }
}

/// An ICMP error message from 10.0.0.1 / fd00::1 to 10.0.0.2 / fd00::2 quoting as much of `quote` as fits.
private func icmpErrorBytes(
    _ version: IPVersion,
    type: UInt8,
    code: UInt8,
    restOfHeader: UInt32,
    quote: [UInt8]
) -> [UInt8] {
    let headerLength = version == .v4 ? 20 : 40
    let quote = quote.prefix(IPPacketConstants.maximumPacketLength - headerLength - 8)
    let length = headerLength + 8 + quote.count
    var bytes: [UInt8]
    switch version {
    case .v4:
        bytes = [0x45, 0, UInt8(length >> 8), UInt8(length & 0xFF), 0, 0, 0x40, 0, 64, 1, 0, 0]
        bytes += [10, 0, 0, 1, 10, 0, 0, 2]
    case .v6:
        let payloadLength = length - 40
        bytes = [0x60, 0, 0, 0, UInt8(payloadLength >> 8), UInt8(payloadLength & 0xFF), 58, 64]
        bytes += [0xFD] + [UInt8](repeating: 0, count: 14) + [1]
        bytes += [0xFD] + [UInt8](repeating: 0, count: 14) + [2]
    }
    bytes += [type, code, 0, 0]
    bytes += (0..<4).map { UInt8(truncatingIfNeeded: restOfHeader >> (24 - 8 * $0)) }
    bytes += quote
    return bytes
}

// MARK: Generating ICMP errors

/// The destination unreachable refusing `packet` parses, is checksummed, goes back to the sender and quotes the
/// start of `packet`, and reading it back gives `packet`'s addresses, protocol and ports.
func checkUnreachable(for packet: IPPacket) {
    let original = contents(packet)
    let layout = Reference.layout(original, rewritten: true)!
    for reason in [DestinationUnreachableReason.administrativelyProhibited, .networkUnreachable] {
        let error = IPPacket.makeICMPDestinationUnreachable(for: packet, reason: reason)
        let bytes = contents(error)
        func fail(_ what: String) -> String {
            "\(what) of the unreachable \(hex(bytes)) for \(hex(original)) (\(reason))"
        }
        do throws(IPPacketError) {
            check(try IPPacket(ByteBuffer(bytes: bytes)) == error, fail("re-parsing"))
        } catch {
            fatalError(fail("parsing: \(error)"))
        }
        let errorLayout = checkAccessors(error, "(an unreachable for \(hex(original)))")
        check(error.version == packet.version, fail("version"))
        check(error.source == packet.destination && error.destination == packet.source, fail("addresses"))
        check(error.hopLimit == IPPacketConstants.generatedICMPErrorHopLimit, fail("hop limit"))
        check(error.ipProtocol == (packet.version == .v4 ? .icmp : .icmpv6), fail("protocol"))
        check(error.hasValidChecksums, fail("checksums"))
        check(equal(Reference.withChecksums(bytes, errorLayout), bytes), fail("checksums (reference)"))

        let quoteLength =
            packet.version == .v4
            ? min(original.count, layout.transportOffset + 8)
            : min(original.count, IPPacketConstants.maximumPacketLength - 48)
        check(bytes.count <= IPPacketConstants.maximumPacketLength, fail("length"))
        check(equal(error.payload, original.prefix(quoteLength)), fail("quote"))

        let icmp = error.icmp!
        let expectedKind: ICMPError
        switch (packet.version, reason) {
        case (.v4, .administrativelyProhibited): expectedKind = .v4Unreachable(code: 13)
        case (.v4, .networkUnreachable): expectedKind = .v4Unreachable(code: 0)
        case (.v6, .administrativelyProhibited): expectedKind = .v6Unreachable(code: 1)
        case (.v6, .networkUnreachable): expectedKind = .v6Unreachable(code: 3)
        }
        check(icmp.restOfHeader == 0, fail("rest of header"))

        let result = Result { () throws(IPPacketError) in try error.icmpError() }
        guard case .success(let value?) = result else {
            fatalError(fail("icmpError() \(result)"))
        }
        let (kind, failed) = value
        check(kind == expectedKind, fail("kind \(kind)"))
        check(failed.version == packet.version, fail("quoted version"))
        check(failed.source == packet.source && failed.destination == packet.destination, fail("quoted addresses"))
        // The quote is read without IPv6 extension headers (see the report); with none, it names the flow.
        if packet.version == .v4 || layout.transportOffset == 40 {
            check(failed.ipProtocol == packet.ipProtocol, fail("quoted protocol"))
            check(failed.transportOffset == layout.transportOffset, fail("quoted transport offset"))
            check(failed.sourceProtocol == (try? packet.sourceProtocol()), fail("quoted source protocol"))
            check(
                failed.destinationProtocol == (try? packet.destinationProtocol()),
                fail("quoted destination protocol")
            )
        }
    }
}

// MARK: Builders

/// Builds a packet of each kind around the input's bytes (as payload, body or options), and checks that it
/// parses, reads back what it was built from, and carries checksums equal to a full computation.
func checkBuilders(_ raw: [UInt8], like parsed: IPPacket?) {
    var reader = FuzzReader(raw[...])
    let version: IPVersion = parsed?.version ?? ((raw.first ?? 0) & 1 == 0 ? .v4 : .v6)
    let fallback: (IPAddress, IPAddress) =
        version == .v4
        ? (.v4(IPv4Address(10, 0, 0, 1)), .v4(IPv4Address(10, 0, 0, 2)))
        : (.v6(IPv6Address(high: 0xFD00 << 48, low: 1)), .v6(IPv6Address(high: 0xFD00 << 48, low: 2)))
    let source = parsed?.source ?? fallback.0
    let destination = parsed?.destination ?? fallback.1
    let payload = ByteBuffer(bytes: raw)
    let hopLimit = reader.byte()
    let ports = (reader.uint16(), reader.uint16())

    func verify(
        _ name: String,
        _ result: Result<IPPacket, IPPacketError>,
        transportLength: Int,
        ipProtocol: IPProtocol,
        expectedSource: IPAddress = source,
        expectedDestination: IPAddress = destination,
        expectedHopLimit: UInt8? = nil,
        _ extra: (IPPacket, [UInt8], Reference.Layout) -> Void
    ) {
        let fits = (expectedSource.version == .v4 ? 20 : 40) + transportLength <= IPPacketConstants.maximumPacketLength
        switch result {
        case .failure(let error):
            guard !fits, case .payloadTooLong = error.reason else {
                fatalError("\(name) of \(transportLength) transport bytes threw \(error)")
            }
            describe(error)
        case .success(let packet):
            let bytes = contents(packet)
            func fail(_ what: String) -> String { "\(name): \(what) of \(hex(bytes))" }
            check(fits, fail("built beyond the maximum length"))
            do throws(IPPacketError) {
                check(try IPPacket(ByteBuffer(bytes: bytes)) == packet, fail("re-parsing"))
            } catch {
                fatalError(fail("parsing: \(error)"))
            }
            let layout = checkAccessors(packet, "(built by \(name))")
            check(packet.ipProtocol == ipProtocol, fail("protocol"))
            check(packet.source == expectedSource && packet.destination == expectedDestination, fail("addresses"))
            check(packet.hopLimit == expectedHopLimit ?? hopLimit, fail("hop limit"))
            check(packet.ecn == .notECT, fail("ECN"))
            check(packet.hasValidChecksums, fail("checksums"))
            check(equal(Reference.withChecksums(bytes, layout), bytes), fail("checksums (reference)"))
            extra(packet, bytes, layout)
        }
    }

    verify(
        "makeUDP",
        Result { () throws(IPPacketError) in
            try IPPacket.makeUDP(
                source: source,
                sourcePort: ports.0,
                destination: destination,
                destinationPort: ports.1,
                payload: payload,
                hopLimit: hopLimit
            )
        },
        transportLength: 8 + raw.count,
        ipProtocol: .udp
    ) { packet, _, _ in
        check(packet.udp?.sourcePort == ports.0 && packet.udp?.destinationPort == ports.1, "makeUDP ports")
        check(packet.payload == payload, "makeUDP payload")
    }

    let options =
        parsed?.tcp?.options
        ?? ByteBuffer(bytes: raw.prefix(Swift.min(40, raw.count) / 4 * 4))
    let sequenceNumber = reader.uint32()
    let acknowledgmentNumber = reader.uint32()
    let flags = TCPFlags(rawValue: reader.byte())
    let window = reader.uint16()
    verify(
        "makeTCP",
        Result { () throws(IPPacketError) in
            try IPPacket.makeTCP(
                source: source,
                sourcePort: ports.0,
                destination: destination,
                destinationPort: ports.1,
                sequenceNumber: sequenceNumber,
                acknowledgmentNumber: acknowledgmentNumber,
                flags: flags,
                window: window,
                options: options,
                payload: payload,
                hopLimit: hopLimit
            )
        },
        transportLength: 20 + options.readableBytes + raw.count,
        ipProtocol: .tcp
    ) { packet, _, _ in
        let tcp = packet.tcp!
        check(tcp.sourcePort == ports.0 && tcp.destinationPort == ports.1, "makeTCP ports")
        check(tcp.sequenceNumber == sequenceNumber && tcp.acknowledgmentNumber == acknowledgmentNumber, "makeTCP seq")
        check(tcp.flags == flags && tcp.window == window && tcp.urgentPointer == 0, "makeTCP flags, window")
        check(tcp.options == options && tcp.headerLength == 20 + options.readableBytes, "makeTCP options")
        check(packet.payload == payload, "makeTCP payload")
    }

    let identifier = reader.uint16()
    let sequence = reader.uint16()
    for request in [true, false] {
        let name = request ? "makeICMPEchoRequest" : "makeICMPEchoReply"
        verify(
            name,
            Result { () throws(IPPacketError) in
                request
                    ? try IPPacket.makeICMPEchoRequest(
                        source: source,
                        destination: destination,
                        identifier: identifier,
                        sequenceNumber: sequence,
                        payload: payload,
                        hopLimit: hopLimit
                    )
                    : try IPPacket.makeICMPEchoReply(
                        source: source,
                        destination: destination,
                        identifier: identifier,
                        sequenceNumber: sequence,
                        payload: payload,
                        hopLimit: hopLimit
                    )
            },
            transportLength: 8 + raw.count,
            ipProtocol: version == .v4 ? .icmp : .icmpv6
        ) { packet, _, _ in
            let icmp = packet.icmp!
            check(request ? icmp.isEchoRequest : icmp.isEchoReply, "\(name) type")
            check(icmp.code == 0 && icmp.identifier == identifier && icmp.sequenceNumber == sequence, "\(name) fields")
            check((try? packet.sourceProtocol()) == .icmpEcho(identifier: identifier), "\(name) sourceProtocol")
            check(packet.payload == payload, "\(name) payload")
        }
    }

    let eventType = FZP2PControl.EventType(rawValue: reader.byte())
    verify(
        "makeFZP2PControl",
        Result { () throws(IPPacketError) in try IPPacket.makeFZP2PControl(eventType: eventType, body: payload) },
        transportLength: FZP2PControl.headerLength + raw.count,
        ipProtocol: .firezoneP2PControl,
        expectedSource: .v6(.unspecified),
        expectedDestination: .v6(.unspecified),
        expectedHopLimit: 0
    ) { packet, bytes, _ in
        check(packet.isFZP2PControl, "makeFZP2PControl is no control packet")
        let control = packet.fzP2PControl!
        check(control.eventType == eventType && control.body == payload, "makeFZP2PControl event and body")
        check(Array(bytes[40..<48]) == [eventType.rawValue, 0, 0, 0, 0, 0, 0, 0], "makeFZP2PControl header")
    }
}
