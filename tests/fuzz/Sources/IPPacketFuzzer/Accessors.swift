import FuzzSupport
import IPPacket
import NIOCore

/// Reads every accessor of `packet` and compares it with the reference model of its bytes. Returns the layout.
@discardableResult
func checkAccessors(_ packet: IPPacket, _ context: @autoclosure () -> String = "") -> Reference.Layout {
    let bytes = contents(packet)
    func fail(_ what: String) -> String {
        "\(what) of packet \(hex(bytes)) \(context())"
    }
    guard let layout = Reference.layout(bytes, rewritten: true) else {
        fatalError(fail("the library holds a packet the reference rejects"))
    }
    let version = layout.version
    let offset = layout.transportOffset

    // IP header
    check(packet.length == bytes.count, fail("length"))
    check(packet.version == version, fail("version"))
    check(packet.ipProtocol.rawValue == layout.ipProtocol, fail("ipProtocol \(packet.ipProtocol)"))
    check(packet.transportOffset == offset, fail("transportOffset \(packet.transportOffset)"))
    check(packet.source == address(bytes, Reference.sourceOffset(version), version), fail("source"))
    check(packet.destination == address(bytes, Reference.destinationOffset(version), version), fail("destination"))
    check(packet.hopLimit == bytes[version == .v4 ? 8 : 7], fail("hopLimit"))
    check(packet.ecn.rawValue == Reference.ecn(bytes, version), fail("ecn"))

    // Transport
    let segment = bytes[offset...]
    check(equal(packet.transportSegment, segment), fail("transportSegment"))
    check(equal(packet.payload, bytes[Reference.payloadOffset(bytes, layout)...]), fail("payload"))

    if let udp = packet.udp {
        check(layout.ipProtocol == 17, fail("udp of a non-UDP packet"))
        check(equal(udp.segment, segment), fail("udp.segment"))
        check(udp.sourcePort == uint16(bytes, offset), fail("udp.sourcePort"))
        check(udp.destinationPort == uint16(bytes, offset + 2), fail("udp.destinationPort"))
        check(Int(udp.length) == segment.count, fail("udp.length"))
        check(udp.checksum == uint16(bytes, offset + 6), fail("udp.checksum"))
    } else {
        check(layout.ipProtocol != 17, fail("no udp header in a UDP packet"))
    }

    if let tcp = packet.tcp {
        check(layout.ipProtocol == 6, fail("tcp of a non-TCP packet"))
        let headerLength = Int(bytes[offset + 12] >> 4) * 4
        check(tcp.sourcePort == uint16(bytes, offset), fail("tcp.sourcePort"))
        check(tcp.destinationPort == uint16(bytes, offset + 2), fail("tcp.destinationPort"))
        check(tcp.sequenceNumber == uint32(bytes, offset + 4), fail("tcp.sequenceNumber"))
        check(tcp.acknowledgmentNumber == uint32(bytes, offset + 8), fail("tcp.acknowledgmentNumber"))
        check(tcp.headerLength == headerLength, fail("tcp.headerLength"))
        check(tcp.flags.rawValue == bytes[offset + 13], fail("tcp.flags"))
        check(tcp.window == uint16(bytes, offset + 14), fail("tcp.window"))
        check(tcp.checksum == uint16(bytes, offset + 16), fail("tcp.checksum"))
        check(tcp.urgentPointer == uint16(bytes, offset + 18), fail("tcp.urgentPointer"))
        check(equal(tcp.options, bytes[offset + 20..<offset + headerLength]), fail("tcp.options"))
    } else {
        check(layout.ipProtocol != 6, fail("no tcp header in a TCP packet"))
    }

    if let icmp = packet.icmp {
        check(Reference.isICMP(layout), fail("icmp of a non-ICMP packet"))
        check(icmp.version == version, fail("icmp.version"))
        check(icmp.type == bytes[offset] && icmp.code == bytes[offset + 1], fail("icmp.type/code"))
        check(icmp.checksum == uint16(bytes, offset + 2), fail("icmp.checksum"))
        check(icmp.identifier == uint16(bytes, offset + 4), fail("icmp.identifier"))
        check(icmp.sequenceNumber == uint16(bytes, offset + 6), fail("icmp.sequenceNumber"))
        check(icmp.restOfHeader == uint32(bytes, offset + 4), fail("icmp.restOfHeader"))
        let isEcho = Reference.isICMPEcho(version: version, type: bytes[offset])
        check(icmp.isEcho == isEcho, fail("icmp.isEcho"))
        check(icmp.isEchoRequest == (bytes[offset] == (version == .v4 ? 8 : 128)), fail("icmp.isEchoRequest"))
        check(icmp.isEchoReply == (bytes[offset] == (version == .v4 ? 0 : 129)), fail("icmp.isEchoReply"))
    } else {
        check(!Reference.isICMP(layout), fail("no icmp header in an ICMP packet"))
    }

    // Ports and identifiers
    let ports = Reference.portOffsets(bytes, layout)
    let source = Result { () throws(IPPacketError) in try packet.sourceProtocol() }
    let destination = Result { () throws(IPPacketError) in try packet.destinationProtocol() }
    if let ports {
        check(
            (try? source.get()) == Reference.transportProtocol(bytes, layout, at: ports.source),
            fail("sourceProtocol \(source)")
        )
        check(
            (try? destination.get()) == Reference.transportProtocol(bytes, layout, at: ports.destination),
            fail("destinationProtocol \(destination)")
        )
    } else {
        for result in [source, destination] {
            guard case .failure(let error) = result, case .noPortOrIdentifier = error.reason else {
                fatalError(fail("a port or identifier of a packet that has none: \(result)"))
            }
        }
    }

    // Firezone control packets
    check(packet.isFZP2PControl == Reference.isP2PControl(bytes, layout), fail("isFZP2PControl"))
    if let control = packet.fzP2PControl {
        check(Reference.isP2PControl(bytes, layout), fail("fzP2PControl of another packet"))
        check(!Reference.isShortP2PControl(bytes, layout), fail("fzP2PControl of a control packet without header"))
        check(equal(control.header, bytes[offset..<offset + 8]), fail("fzP2PControl.header"))
        check(equal(control.body, bytes[(offset + 8)...]), fail("fzP2PControl.body"))
        check(control.eventType.rawValue == bytes[offset], fail("fzP2PControl.eventType"))
    } else {
        check(
            !Reference.isP2PControl(bytes, layout) || Reference.isShortP2PControl(bytes, layout),
            fail("no fzP2PControl of a control packet")
        )
    }

    // ICMP errors
    checkICMPError(of: packet, bytes, layout, fail)

    // Checksums, hashing
    check(packet.hasValidChecksums == Reference.hasValidChecksums(bytes, layout), fail("hasValidChecksums"))
    let copy = packet
    check(copy == packet && copy.hashValue == packet.hashValue, fail("equality with a copy"))
    return layout
}

/// `icmpError()` against the reference reading of the quote.
private func checkICMPError(
    of packet: IPPacket,
    _ bytes: [UInt8],
    _ layout: Reference.Layout,
    _ fail: (String) -> String
) {
    let result = Result { () throws(IPPacketError) in try packet.icmpError() }
    guard Reference.isICMP(layout) else {
        guard case .success(.none) = result else {
            fatalError(fail("icmpError of a non-ICMP packet: \(result)"))
        }
        return
    }
    let offset = layout.transportOffset
    guard
        let kind = Reference.icmpError(
            version: layout.version,
            type: bytes[offset],
            code: bytes[offset + 1],
            restOfHeader: uint32(bytes, offset + 4)
        )
    else {
        guard case .success(.none) = result else {
            fatalError(fail("icmpError of an ICMP type that is no error: \(result)"))
        }
        return
    }
    let quote = bytes[(offset + 8)...]
    checkQuote(result, kind: kind, quote: quote, version: layout.version, fail)
}

/// An `icmpError()` result against the reference for an error of `kind` quoting `quote`.
func checkQuote(
    _ result: Result<(ICMPError, FailedPacket)?, IPPacketError>,
    kind: ICMPError,
    quote: ArraySlice<UInt8>,
    version: IPVersion,
    _ fail: (String) -> String
) {
    switch (result, Reference.quote(quote, version: version)) {
    case (.failure, nil):
        break
    case (.success(let value?), let expected?):
        let (error, failed) = value
        check(error == kind, fail("icmpError kind \(error), expected \(kind)"))
        check(equal(failed.packet, quote), fail("FailedPacket.packet"))
        check(failed.version == version, fail("FailedPacket.version"))
        let actual = Reference.Quote(
            source: failed.source,
            destination: failed.destination,
            ipProtocol: failed.ipProtocol.rawValue,
            transportOffset: failed.transportOffset,
            sourceProtocol: failed.sourceProtocol,
            destinationProtocol: failed.destinationProtocol
        )
        check(actual == expected, fail("FailedPacket \(actual), expected \(expected)"))
    case (let result, let expected):
        fatalError(fail("icmpError() gave \(result), the reference \(String(describing: expected))"))
    }
}

/// Formats an error, as logging would.
func describe(_ error: IPPacketError) {
    check(!error.description.isEmpty, "an empty error description")
}

/// The text form of an address parses back to the address (RFC 5952 output, RFC 4291 input).
func checkAddressText(_ address: IPAddress) {
    let text = address.description
    check(IPAddress(text) == address, "\(address) does not parse back from \"\(text)\"")
    if case .v6 = address {
        check(IPAddress("[\(text)]") == address, "[\(text)] does not parse back")
    }
}
