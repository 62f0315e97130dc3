import FuzzSupport
import IPPacket
import NIOCore

/// One rewrite of a packet, decoded from the part of the fuzz input after the packet (the script).
enum Rewrite: CustomStringConvertible {
    case setSource(IPAddress)
    case setDestination(IPAddress)
    case setSourceProtocol(UInt16)
    case setDestinationProtocol(UInt16)
    case translateSource(IPAddress, port: UInt16)
    case translateDestination(IPAddress, port: UInt16)
    case setECN(ECN)
    case applyECN(outer: ECN)

    /// The script of an input that is only a packet (as the seed corpus is): reply direction, new ports,
    /// ECN changes, new addresses, a checksum aimed at zero, and back.
    static let defaultScript: [UInt8] = [
        8,  // swap source and destination
        2, 0x12, 0x34,  // source port or identifier 0x1234
        3, 0xFF, 0xFF,  // destination port or identifier 0xFFFF
        6, 0x02,  // ECN ECT(0)
        7, 0x03,  // CE from the outer header
        9, 0x05,  // source: a fixed address
        10, 0x04,  // destination: loopback
        11, 0x00, 0xAB, 0xCD,  // first group of the source
        13, 0x00,  // the source port or identifier that makes the checksum 0x0000
        8,
    ]

    static let opcodes: UInt8 = 14

    /// Decodes the next opcode and its operands; an opcode may stand for several rewrites (a swap is two).
    /// Addresses are always of the packet's IP version.
    static func next(from reader: inout FuzzReader, for packet: IPPacket) -> [Rewrite] {
        let version = packet.version
        switch reader.byte() % Self.opcodes {
        case 0: return [.setSource(reader.address(version))]
        case 1: return [.setDestination(reader.address(version))]
        case 2: return [.setSourceProtocol(reader.uint16())]
        case 3: return [.setDestinationProtocol(reader.uint16())]
        case 4: return [.translateSource(reader.address(version), port: reader.uint16())]
        case 5: return [.translateDestination(reader.address(version), port: reader.uint16())]
        case 6: return [.setECN(ECN(rawValue: reader.byte() & 0b11)!)]
        case 7: return [.applyECN(outer: ECN(rawValue: reader.byte() & 0b11)!)]
        case 8: return [.setSource(packet.destination), .setDestination(packet.source)]
        case 9: return [.setSource(Self.special(reader.byte(), packet))]
        case 10: return [.setDestination(Self.special(reader.byte(), packet))]
        case 11: return [.setSource(Self.tweak(packet.source, &reader))]
        case 12: return [.setDestination(Self.tweak(packet.destination, &reader))]
        default: return [Self.aimed(reader.byte(), &reader, packet)]
        }
    }

    /// A rewrite of one 16-bit word (a port, an identifier or an address group) to the value that makes a
    /// checksum come out as a chosen value: 0x0000, 0xFFFF, 0x0001, 0xFFFE or any. Incremental updates go wrong
    /// at the edges of ones' complement arithmetic (0x0000 against 0xFFFF), which random values reach once in
    /// 65536 rewrites; this reaches them at once.
    private static func aimed(_ selector: UInt8, _ reader: inout FuzzReader, _ packet: IPPacket) -> Rewrite {
        let bytes = contents(packet)
        let layout = Reference.layout(bytes, rewritten: true)!
        let version = layout.version
        let targets: [UInt16] = [0x0000, 0xFFFF, 0x0001, 0xFFFE]
        let target = selector & 0x80 != 0 ? reader.uint16() : targets[Int(selector >> 4) % 4]
        let ports = Reference.portOffsets(bytes, layout)

        // The word to rewrite, and the rewrite for a value of it.
        let field: Int
        let rewrite: (UInt16) -> Rewrite
        switch (selector % 4, ports) {
        case (0, let ports?):
            field = ports.source
            rewrite = { .setSourceProtocol($0) }
        case (1, let ports?):
            field = ports.destination
            rewrite = { .setDestinationProtocol($0) }
        default:
            let isSource = selector % 2 == 0
            let base = isSource ? Reference.sourceOffset(version) : Reference.destinationOffset(version)
            field = base + 2 * Int(selector >> 2 & (version == .v4 ? 1 : 7))
            rewrite = { value in
                var bytes = bytes
                setUInt16(&bytes, field, value)
                let address = address(bytes, base, version)
                return isSource ? .setSource(address) : .setDestination(address)
            }
        }

        // The checksum to aim: the transport one if it covers the word, else the IPv4 header's.
        let transport = Reference.transportChecksumOffset(layout)
        let coversAddresses = [6, 17, 58].contains(layout.ipProtocol)
        let checksumOffset: Int
        if let transport, field >= layout.transportOffset || coversAddresses {
            checksumOffset = transport
        } else if version == .v4 {
            checksumOffset = 10
        } else {
            return rewrite(target)
        }

        // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). For HC' = target: m' = ~target - (~HC + ~m), in ones' complement.
        let partial = Reference.sum([], plus: UInt32(~uint16(bytes, checksumOffset)) + UInt32(~uint16(bytes, field)))
        let value = Reference.sum([], plus: UInt32(~target) + UInt32(~partial))
        return rewrite(value)
    }

    /// Addresses that are edge cases for checksums or for the library: all zeros, all ones, the packet's own.
    private static func special(_ selector: UInt8, _ packet: IPPacket) -> IPAddress {
        switch (selector % 6, packet.version) {
        case (0, .v4): .v4(.any)
        case (0, .v6): .v6(.unspecified)
        case (1, .v4): .v4(IPv4Address(rawValue: .max))
        case (1, .v6): .v6(IPv6Address(high: .max, low: .max))
        case (2, _): packet.source
        case (3, _): packet.destination
        case (4, .v4): .v4(IPv4Address(127, 0, 0, 1))
        case (4, .v6): .v6(IPv6Address(high: 0, low: 1))
        case (_, .v4): .v4(IPv4Address(100, 64, 0, 1))
        case (_, .v6): .v6(IPv6Address(high: 0, low: 0xFFFF_6440_0001))  // ::ffff:100.64.0.1
        }
    }

    /// The address with one 16-bit group replaced: the smallest change a checksum must follow.
    private static func tweak(_ address: IPAddress, _ reader: inout FuzzReader) -> IPAddress {
        let selector = reader.byte()
        let group = UInt64(reader.uint16())
        switch address {
        case .v4(let address):
            let shift = UInt32(selector % 2) * 16
            return .v4(IPv4Address(rawValue: address.rawValue & ~(0xFFFF << shift) | UInt32(group) << shift))
        case .v6(var address):
            let shift = UInt64(selector % 4) * 16
            if selector % 8 < 4 {
                address.high = address.high & ~(0xFFFF << shift) | group << shift
            } else {
                address.low = address.low & ~(0xFFFF << shift) | group << shift
            }
            return .v6(address)
        }
    }

    var description: String {
        switch self {
        case .setSource(let address): "setSource(\(address))"
        case .setDestination(let address): "setDestination(\(address))"
        case .setSourceProtocol(let value): "setSourceProtocol(\(value))"
        case .setDestinationProtocol(let value): "setDestinationProtocol(\(value))"
        case .translateSource(let address, let port): "translateSource(to: \(address), port: \(port))"
        case .translateDestination(let address, let port): "translateDestination(to: \(address), port: \(port))"
        case .setECN(let ecn): "setECN(.\(ecn))"
        case .applyECN(let outer): "applyECN(fromTransport: .\(outer))"
        }
    }
}

/// A packet under rewrite, next to the reference model of what its bytes must be.
struct Lane {
    var packet: IPPacket
    /// The packet's bytes with every rewrite applied to its fields; checksum fields are not maintained here.
    var model: [UInt8]
    let layout: Reference.Layout
    /// An IPv4 UDP packet sent without a checksum (zero): rewrites must leave it zero.
    let withoutUDPChecksum: Bool
    let headroom: Int
    var history: [Rewrite] = []

    init(_ packet: IPPacket, headroom: Int, withoutUDPChecksum: Bool) {
        self.packet = packet
        self.model = contents(packet)
        self.layout = Reference.layout(self.model, rewritten: true)!
        self.withoutUDPChecksum = withoutUDPChecksum
        self.headroom = headroom
    }

    var context: String {
        let kind = self.withoutUDPChecksum ? "UDP without checksum" : "checksummed"
        return "(\(kind), after \(self.history.map(\.description).joined(separator: ", ")))"
    }

    mutating func apply(_ rewrite: Rewrite) {
        self.history.append(rewrite)
        let before = contents(self.packet)
        let version = self.layout.version
        let ports = Reference.portOffsets(self.model, self.layout)
        let sourceOffset = Reference.sourceOffset(version)
        let destinationOffset = Reference.destinationOffset(version)
        func requirePorts() -> (source: Int, destination: Int) {
            guard let ports else {
                fatalError("\(rewrite) succeeded on \(hex(before)), which has no port or identifier \(self.context)")
            }
            return ports
        }

        do throws(IPPacketError) {
            switch rewrite {
            case .setSource(let address):
                self.packet.setSource(address)
                setAddress(&self.model, sourceOffset, address)
            case .setDestination(let address):
                self.packet.setDestination(address)
                setAddress(&self.model, destinationOffset, address)
            case .setSourceProtocol(let value):
                try self.packet.setSourceProtocol(value)
                setUInt16(&self.model, requirePorts().source, value)
            case .setDestinationProtocol(let value):
                try self.packet.setDestinationProtocol(value)
                setUInt16(&self.model, requirePorts().destination, value)
            case .translateSource(let address, let port):
                try self.packet.translateSource(to: address, port: port)
                setUInt16(&self.model, requirePorts().source, port)
                setAddress(&self.model, sourceOffset, address)
            case .translateDestination(let address, let port):
                try self.packet.translateDestination(to: address, port: port)
                setUInt16(&self.model, requirePorts().destination, port)
                setAddress(&self.model, destinationOffset, address)
            case .setECN(let ecn):
                self.packet.setECN(ecn)
                Reference.setECN(&self.model, version, ecn.rawValue)
            case .applyECN(let outer):
                self.packet.applyECN(fromTransport: outer)
                let inner = Reference.ecn(self.model, version)
                Reference.setECN(&self.model, version, Reference.decapsulatedECN(inner: inner, outer: outer.rawValue))
            }
        } catch {
            check(ports == nil, "\(rewrite) threw \(error) on \(hex(before)), which has ports \(self.context)")
            guard case .noPortOrIdentifier = error.reason else {
                fatalError("\(rewrite) threw \(error), not noPortOrIdentifier \(self.context)")
            }
            check(
                equal(contents(self.packet), before),
                "\(rewrite) threw and still changed \(hex(before)) \(self.context)"
            )
        }
        self.verify()
    }

    /// The invariants after every rewrite.
    func verify() {
        let actual = contents(self.packet)

        // The rewritten bytes are still a packet, the same one. Except (reported, not fixed): a protocol-0xFF
        // packet shorter than 48 bytes whose addresses both became `::` is a control packet without a header.
        do throws(IPPacketError) {
            let reparsed = try IPPacket(ByteBuffer(bytes: actual))
            check(reparsed == self.packet, "the re-parsed packet differs: \(hex(actual)) \(self.context)")
            check(!Reference.isShortP2PControl(actual, self.layout), "a control packet without header parsed")
        } catch {
            guard Reference.isShortP2PControl(actual, self.layout), case .truncatedP2PControlHeader = error.reason
            else {
                fatalError("the rewritten packet \(hex(actual)) no longer parses: \(error) \(self.context)")
            }
        }

        // The checksums verify.
        check(self.packet.hasValidChecksums, "hasValidChecksums is false for \(hex(actual)) \(self.context)")

        var expected = Reference.withChecksums(self.model, self.layout)
        if self.withoutUDPChecksum {
            setUInt16(&expected, self.layout.transportOffset + 6, 0)
        }
        check(
            equal(actual, expected),
            "rewritten packet \(hex(actual)) != reference \(hex(expected)) \(self.context)"
        )

        // The accessors read the rewritten fields (all of them are compared with the reference after the script).
        let version = self.layout.version
        check(self.packet.source == address(actual, Reference.sourceOffset(version), version), "source")
        check(self.packet.destination == address(actual, Reference.destinationOffset(version), version), "destination")
        check(self.packet.ecn.rawValue == Reference.ecn(actual, version), "ecn \(self.context)")
        if let ports = Reference.portOffsets(actual, self.layout) {
            let source = Reference.transportProtocol(actual, self.layout, at: ports.source)
            let destination = Reference.transportProtocol(actual, self.layout, at: ports.destination)
            check((try? self.packet.sourceProtocol()) == source, "sourceProtocol \(self.context)")
            check((try? self.packet.destinationProtocol()) == destination, "destinationProtocol \(self.context)")
        }
        let isControl = Reference.isP2PControl(actual, self.layout) && !Reference.isShortP2PControl(actual, self.layout)
        check((self.packet.fzP2PControl != nil) == isControl, "fzP2PControl \(self.context)")
    }

    /// Incremental updates give the bytes of a full recomputation by the library. Checked once the script has run:
    /// after every rewrite, ``verify()`` compares the bytes with the reference's full recomputation, which this
    /// would repeat at the cost of another copy and checksum pass per rewrite (see tests/fuzz/README.md, speed).
    func checkAgainstComputeChecksums() {
        let actual = contents(self.packet)
        if !self.withoutUDPChecksum {
            var copy = self.packet
            copy.computeChecksums()
            let recomputed = contents(copy)
            check(
                equal(recomputed, actual),
                "incremental update \(hex(actual)) != computeChecksums() \(hex(recomputed)) \(self.context)"
            )
            check(equal(self.packet.buffer, actual[...]), "computeChecksums() on a copy changed the original")
        }
    }

    /// Nothing was written outside the packet: the bytes before it in the buffer are untouched.
    func checkHeadroom() {
        var buffer = self.packet.buffer
        // A rewrite of a shared buffer copies it, without the headroom; this one is not shared.
        guard buffer.readerIndex == self.headroom else {
            return
        }
        buffer.moveReaderIndex(to: 0)
        check(
            buffer.readableBytesView.prefix(self.headroom).allSatisfy { $0 == 0xA5 },
            "a rewrite wrote before the packet \(self.context)"
        )
    }
}

/// The most opcodes a script runs. A step's starting point is only the packet's bytes, which the packet part of an
/// input reaches directly, so longer scripts add little but cost a verification per rewrite; the default script has
/// 10 steps and the regressions found needed 2.
let maximumScriptSteps = 16

/// Runs the script (or the default script) on every lane in step, verifying after each rewrite.
func runScript(_ script: ArraySlice<UInt8>, on lanes: inout [Lane]) {
    var reader = FuzzReader(script.isEmpty ? Rewrite.defaultScript[...] : script)
    var steps = 0
    while !reader.isAtEnd, steps < maximumScriptSteps {
        for rewrite in Rewrite.next(from: &reader, for: lanes[0].packet) {
            for index in lanes.indices {
                lanes[index].apply(rewrite)
            }
        }
        steps += 1
    }
    for lane in lanes {
        lane.checkAgainstComputeChecksums()
        lane.checkHeadroom()
        checkAccessors(lane.packet, lane.context)
    }
    checkAddressText(lanes[0].packet.source)
    checkAddressText(lanes[0].packet.destination)
}
