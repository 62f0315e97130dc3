import NIOCore

// MARK: Rewrites, as NAT needs them

extension IPPacket {
    /// Replaces the source address, updating the IPv4 header checksum and any transport checksum that covers the
    /// pseudo-header incrementally (RFC 1624). The address must be of the packet's version.
    public mutating func setSource(_ address: IPAddress) {
        let offset = self.sourceOffset
        self.withPacketBytes { $0.replaceAddress(at: offset, with: address) }
    }

    /// Replaces the destination address, updating checksums as ``setSource(_:)`` does.
    public mutating func setDestination(_ address: IPAddress) {
        let offset = self.destinationOffset
        self.withPacketBytes { $0.replaceAddress(at: offset, with: address) }
    }

    /// Replaces the source port, or the identifier of an ICMP echo request or reply.
    public mutating func setSourceProtocol(_ value: UInt16) throws(IPPacketError) {
        let field = try self.portOrIdentifierOffset(portOffset: 0)
        self.withPacketBytes { $0.replacePortOrIdentifier(at: field, with: value) }
    }

    /// Replaces the destination port, or the identifier of an ICMP echo request or reply.
    public mutating func setDestinationProtocol(_ value: UInt16) throws(IPPacketError) {
        let field = try self.portOrIdentifierOffset(portOffset: 2)
        self.withPacketBytes { $0.replacePortOrIdentifier(at: field, with: value) }
    }

    /// Source NAT: a new source address and port (or ICMP echo identifier).
    public mutating func translateSource(to address: IPAddress, port: UInt16) throws(IPPacketError) {
        let field = try self.portOrIdentifierOffset(portOffset: 0)
        let offset = self.sourceOffset
        self.withPacketBytes { bytes in
            bytes.replacePortOrIdentifier(at: field, with: port)
            bytes.replaceAddress(at: offset, with: address)
        }
    }

    /// Destination NAT: a new destination address and port (or ICMP echo identifier).
    public mutating func translateDestination(to address: IPAddress, port: UInt16) throws(IPPacketError) {
        let field = try self.portOrIdentifierOffset(portOffset: 2)
        let offset = self.destinationOffset
        self.withPacketBytes { bytes in
            bytes.replacePortOrIdentifier(at: field, with: port)
            bytes.replaceAddress(at: offset, with: address)
        }
    }

    /// Replaces the ECN bits, updating the IPv4 header checksum.
    public mutating func setECN(_ ecn: ECN) {
        self.withPacketBytes { $0.setECN(ecn) }
    }

    /// Applies the ECN codepoint of the packet that carried this one (RFC 6040 normal mode: only ECT → CE).
    public mutating func applyECN(fromTransport outer: ECN) {
        let decapsulated = self.ecn.decapsulated(outer: outer)
        if decapsulated != self.ecn {
            self.setECN(decapsulated)
        }
    }

    private var sourceOffset: Int {
        self.version == .v4 ? IPPacketConstants.ipv4SourceOffset : IPPacketConstants.ipv6SourceOffset
    }

    private var destinationOffset: Int {
        self.version == .v4 ? IPPacketConstants.ipv4DestinationOffset : IPPacketConstants.ipv6DestinationOffset
    }

    /// Where the port at `portOffset` of a TCP or UDP header is, or an ICMP echo's identifier.
    private func portOrIdentifierOffset(portOffset: Int) throws(IPPacketError) -> Int {
        switch self.ipProtocol {
        case .tcp, .udp:
            return self.transportOffset + portOffset
        default:
            guard let icmp = self.icmp, icmp.isEcho else {
                throw self.error(.noPortOrIdentifier(self.ipProtocol))
            }
            // An echo has one identifier for both directions.
            return self.transportOffset + 4
        }
    }

    /// Runs `body` on the packet's bytes, made unique first: one checked access to the buffer for a whole rewrite.
    private mutating func withPacketBytes(_ body: (PacketBytes) -> Void) {
        let version = self.version
        let ipProtocol = self.ipProtocol
        let transportOffset = self.transportOffset
        self.buffer.withUnsafeMutableReadableBytes { bytes in
            body(PacketBytes(bytes: bytes, version: version, ipProtocol: ipProtocol, transportOffset: transportOffset))
        }
    }
}

/// A validated packet's bytes during a rewrite, with what validation found about them. Offsets are from the start
/// of the packet and within it: construction checked every field these methods touch.
private struct PacketBytes {
    let bytes: UnsafeMutableRawBufferPointer
    let version: IPVersion
    let ipProtocol: IPProtocol
    let transportOffset: Int

    func replacePortOrIdentifier(at offset: Int, with value: UInt16) {
        let old = self.bytes.bigEndian(at: offset, as: UInt16.self)
        self.bytes.setBigEndian(value, at: offset)
        self.updateTransportChecksum { InternetChecksum.updated($0, replacing: old, with: value) }
    }

    func replaceAddress(at offset: Int, with address: IPAddress) {
        let old: IPAddress
        switch (self.version, address) {
        case (.v4, .v4(let address)):
            old = .v4(UnsafeRawBufferPointer(self.bytes).ipv4Address(at: offset))
            self.bytes.setBigEndian(address.rawValue, at: offset)
        case (.v6, .v6(let address)):
            old = .v6(UnsafeRawBufferPointer(self.bytes).ipv6Address(at: offset))
            self.bytes.setBigEndian(address.high, at: offset)
            self.bytes.setBigEndian(address.low, at: offset + 8)
        case (.v4, .v6), (.v6, .v4):
            preconditionFailure("an IP\(self.version) packet cannot take the address \(address)")
        }
        if self.version == .v4 {
            self.updateUInt16(at: IPPacketConstants.ipv4HeaderChecksumOffset) {
                InternetChecksum.updated($0, replacing: old, with: address)
            }
        }
        if IPPacket.transportChecksumCoversPseudoHeader(self.ipProtocol) {
            self.updateTransportChecksum { InternetChecksum.updated($0, replacing: old, with: address) }
        }
    }

    func setECN(_ ecn: ECN) {
        switch self.version {
        case .v4:
            let oldWord = self.bytes.bigEndian(at: 0, as: UInt16.self)
            let newWord = oldWord & ~0b11 | UInt16(ecn.rawValue)
            self.bytes.setBigEndian(newWord, at: 0)
            self.updateUInt16(at: IPPacketConstants.ipv4HeaderChecksumOffset) {
                InternetChecksum.updated($0, replacing: oldWord, with: newWord)
            }
        case .v6:
            self.bytes[1] = self.bytes[1] & ~0b0011_0000 | ecn.rawValue << 4
        }
    }

    private func updateUInt16(at offset: Int, _ update: (UInt16) -> UInt16) {
        self.bytes.setBigEndian(update(self.bytes.bigEndian(at: offset, as: UInt16.self)), at: offset)
    }

    private func updateTransportChecksum(_ update: (UInt16) -> UInt16) {
        guard
            let offset = IPPacket.transportChecksumOffset(self.version, self.ipProtocol, self.transportOffset)
        else {
            return
        }
        let current = self.bytes.bigEndian(at: offset, as: UInt16.self)
        // RFC 768: "An all zero transmitted checksum value means that the transmitter generated no checksum".
        // IPv6 has no such exception (RFC 8200 §8.1).
        if self.ipProtocol == .udp, self.version == .v4, current == 0 {
            return
        }
        let updated = update(current)
        // RFC 1624 §3 gives 0x0000 where a full computation gives 0xFFFF if the covered data is all zeros. Only an
        // ICMPv4 message can be (the other checksums cover a pseudo-header with a non-zero protocol): when the
        // update gives zero, which is rare, compute that checksum afresh; it covers no pseudo-header.
        if updated == 0, !IPPacket.transportChecksumCoversPseudoHeader(self.ipProtocol) {
            self.bytes.setBigEndian(UInt16(0), at: offset)
            var sum = InternetChecksum()
            sum.add(bytes: UnsafeRawBufferPointer(rebasing: self.bytes[self.transportOffset...]))
            self.bytes.setBigEndian(sum.checksum, at: offset)
            return
        }
        self.bytes.setBigEndian(IPPacket.transmittable(updated, self.ipProtocol), at: offset)
    }
}

// MARK: Full computation

extension IPPacket {
    /// Computes the IPv4 header checksum and the transport checksum (TCP, UDP, ICMP, ICMPv6) from scratch.
    public mutating func computeChecksums() {
        if self.version == .v4 {
            self.setUInt16(0, at: IPPacketConstants.ipv4HeaderChecksumOffset)
            self.setUInt16(self.ipv4HeaderSum().checksum, at: IPPacketConstants.ipv4HeaderChecksumOffset)
        }
        guard let offset = self.transportChecksumOffset else {
            return
        }
        self.setUInt16(0, at: offset)
        self.setUInt16(Self.transmittable(self.transportSum().checksum, self.ipProtocol), at: offset)
    }

    /// Whether the IPv4 header checksum and the transport checksum verify (RFC 1071: the sum over the data,
    /// checksum included, is all ones). An IPv4 UDP checksum of zero means "none" and verifies.
    public var hasValidChecksums: Bool {
        if self.version == .v4, self.ipv4HeaderSum().sum != 0xFFFF {
            return false
        }
        guard let offset = self.transportChecksumOffset else {
            return true
        }
        if self.ipProtocol == .udp, self.version == .v4, self.uint16(at: offset) == 0 {
            return true
        }
        return self.transportSum().sum == 0xFFFF
    }

    /// The offset of the transport checksum field, for the protocols whose checksum we maintain.
    var transportChecksumOffset: Int? {
        Self.transportChecksumOffset(self.version, self.ipProtocol, self.transportOffset)
    }

    static func transportChecksumOffset(
        _ version: IPVersion,
        _ ipProtocol: IPProtocol,
        _ transportOffset: Int
    ) -> Int? {
        switch (version, ipProtocol) {
        case (_, .tcp): transportOffset + 16
        case (_, .udp): transportOffset + 6
        case (.v4, .icmp), (.v6, .icmpv6): transportOffset + 2
        default: nil
        }
    }

    /// RFC 768: a computed UDP checksum of zero "is transmitted as all ones".
    static func transmittable(_ checksum: UInt16, _ ipProtocol: IPProtocol) -> UInt16 {
        ipProtocol == .udp && checksum == 0 ? 0xFFFF : checksum
    }

    /// TCP, UDP and ICMPv6 checksums cover a pseudo-header with the addresses; ICMPv4's does not.
    ///
    /// With an IPv6 routing header the pseudo-header should carry the final destination (RFC 8200 §8.1); we use
    /// the destination field, as Firezone does: such packets do not occur in the tunnel.
    var transportChecksumCoversPseudoHeader: Bool {
        Self.transportChecksumCoversPseudoHeader(self.ipProtocol)
    }

    static func transportChecksumCoversPseudoHeader(_ ipProtocol: IPProtocol) -> Bool {
        switch ipProtocol {
        case .tcp, .udp, .icmpv6: true
        default: false
        }
    }

    private func ipv4HeaderSum() -> InternetChecksum {
        var sum = InternetChecksum()
        self.buffer.withUnsafeReadableBytes { bytes in
            sum.add(bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<self.transportOffset]))
        }
        return sum
    }

    private func transportSum() -> InternetChecksum {
        var sum = InternetChecksum()
        let segmentLength = self.transportLength
        if self.transportChecksumCoversPseudoHeader {
            sum.add(self.source)
            sum.add(self.destination)
            switch self.version {
            case .v4:
                // RFC 9293 §3.1 / RFC 768: zero, protocol, and the segment length.
                sum.add(UInt16(self.ipProtocol.rawValue))
                sum.add(UInt16(segmentLength))
            case .v6:
                // RFC 8200 §8.1: upper-layer packet length (32 bits), three zero bytes, next header.
                sum.add(UInt32(segmentLength))
                sum.add(UInt16(self.ipProtocol.rawValue))
            }
        }
        self.buffer.withUnsafeReadableBytes { bytes in
            sum.add(bytes: UnsafeRawBufferPointer(rebasing: bytes[self.transportOffset...]))
        }
        return sum
    }
}
