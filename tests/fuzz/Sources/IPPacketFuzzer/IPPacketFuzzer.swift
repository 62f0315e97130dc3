import FuzzSupport
import IPPacket
import NIOCore

// The `ip-packet` fuzz target.
//
// Input layout: an IP packet, then an optional rewrite script.
// - The packet is the first n bytes, n being the length its header declares (IPv4 total length, or 40 + IPv6
//   payload length) if the input is that long; otherwise (and for other versions) the whole input.
// - The script is the rest: opcodes and operands (see `Rewrite.next`). An empty script runs
//   `Rewrite.defaultScript`, so a bare packet (as in the seed corpus) is rewritten too.
//
// For every input: parsing must agree with an independent reference (`Reference`), on the whole input and on the
// packet part; the packet part is also quoted in ICMP errors and used as the payload of every builder. For a packet
// that parses: every accessor is compared with the reference, `computeChecksums()` must give the reference
// checksums, and after every rewrite of the script the packet must re-parse, have valid checksums, and be
// byte for byte what a full recomputation (and the reference) gives. Any violation is a `fatalError`.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    fuzzOne(input)
    return 0
}

/// How many bytes of `input` are the packet.
func packetLength(_ input: [UInt8]) -> Int {
    guard let first = input.first else {
        return 0
    }
    let declared: Int
    switch first >> 4 {
    case 4 where input.count >= 4: declared = Int(uint16(input, 2))
    case 6 where input.count >= 6: declared = 40 + Int(uint16(input, 4))
    default: declared = input.count
    }
    return declared <= input.count ? declared : input.count
}

func fuzzOne(_ input: [UInt8]) {
    // The whole input, as a packet: errors for trailing bytes, or the same packet.
    _ = parse(input, headroom: 0)

    let length = packetLength(input)
    let raw = Array(input[..<length])
    let script = input[length...]
    let headroom = 1 + input.count % 13

    let parsed = parse(raw, headroom: headroom)
    checkQuotes(of: raw)
    checkBuilders(raw, like: parsed)
    guard let packet = parsed else {
        return
    }

    let layout = checkAccessors(packet, "(as parsed)")
    checkAddressText(packet.source)
    checkAddressText(packet.destination)
    check(packet == (try? IPPacket(ByteBuffer(bytes: raw))), "the packet depends on where its buffer starts")
    checkUnreachable(for: packet)
    let copy = packet
    check(copy.intoBuffer() == packet.buffer, "intoBuffer")

    // Full computation of the checksums, against the reference; only the checksum fields change.
    var checksummed = packet
    checksummed.computeChecksums()
    let expected = Reference.withChecksums(raw, layout)
    check(
        equal(contents(checksummed), expected),
        "computeChecksums() \(hex(contents(checksummed))) != \(hex(expected))"
    )
    check(equal(contents(packet), raw), "computeChecksums() on a copy changed the original")
    check(checksummed.hasValidChecksums, "hasValidChecksums after computeChecksums() of \(hex(expected))")
    var again = checksummed
    again.computeChecksums()
    check(again == checksummed, "computeChecksums() is not idempotent on \(hex(expected))")
    checkAccessors(checksummed, "(checksummed)")

    // The rewrites, on the checksummed packet and, for IPv4 UDP, on the same packet without a UDP checksum.
    var lanes = [Lane(parse(expected, headroom: headroom)!, headroom: headroom, withoutUDPChecksum: false)]
    if layout.version == .v4, layout.ipProtocol == 17 {
        var unchecked = expected
        setUInt16(&unchecked, layout.transportOffset + 6, 0)
        let packet = parse(unchecked, headroom: headroom)!
        check(packet.hasValidChecksums, "an IPv4 UDP checksum of zero is valid")
        lanes.append(Lane(packet, headroom: headroom, withoutUDPChecksum: true))
    }
    runScript(script, on: &lanes)
    checkUnreachable(for: lanes[0].packet)
}

/// Parses `bytes` (placed after `headroom` other bytes in the buffer) and checks that the library accepts exactly
/// what the reference accepts.
func parse(_ bytes: [UInt8], headroom: Int) -> IPPacket? {
    let expected = Reference.layout(bytes)
    do throws(IPPacketError) {
        let packet = try IPPacket(bufferWithHeadroom(bytes, headroom: headroom))
        check(expected != nil, "accepted \(hex(bytes)), which the reference rejects")
        return packet
    } catch {
        check(expected == nil, "rejected \(hex(bytes)) (\(error)), which the reference accepts")
        describe(error)
        return nil
    }
}
