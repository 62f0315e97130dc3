import NIOCore

// MARK: Rewrites, as NAT needs them

extension IPPacket {
    /// Replaces the source address, updating the IPv4 header checksum and any transport checksum that covers the
    /// pseudo-header incrementally (RFC 1624). The address must be of the packet's version.
    public mutating func setSource(_ address: IPAddress) {
        let old = self.source
        self.writeAddress(address, at: self.version == .v4 ? 12 : 8)
        self.updateChecksums(replacing: old, with: address)
    }

    /// Replaces the destination address, updating checksums as ``setSource(_:)`` does.
    public mutating func setDestination(_ address: IPAddress) {
        let old = self.destination
        self.writeAddress(address, at: self.version == .v4 ? 16 : 24)
        self.updateChecksums(replacing: old, with: address)
    }

    /// Replaces the source port, or the identifier of an ICMP echo request or reply.
    public mutating func setSourceProtocol(_ value: UInt16) throws(IPPacketError) {
        try self.setPortOrIdentifier(value, portOffset: 0)
    }

    /// Replaces the destination port, or the identifier of an ICMP echo request or reply.
    public mutating func setDestinationProtocol(_ value: UInt16) throws(IPPacketError) {
        try self.setPortOrIdentifier(value, portOffset: 2)
    }

    /// Source NAT: a new source address and port (or ICMP echo identifier).
    public mutating func translateSource(to address: IPAddress, port: UInt16) throws(IPPacketError) {
        try self.setSourceProtocol(port)
        self.setSource(address)
    }

    /// Destination NAT: a new destination address and port (or ICMP echo identifier).
    public mutating func translateDestination(to address: IPAddress, port: UInt16) throws(IPPacketError) {
        try self.setDestinationProtocol(port)
        self.setDestination(address)
    }

    /// Replaces the ECN bits, updating the IPv4 header checksum.
    public mutating func setECN(_ ecn: ECN) {
        switch self.version {
        case .v4:
            let oldWord = self.uint16(at: 0)
            let newWord = oldWord & ~0b11 | UInt16(ecn.rawValue)
            self.setUInt16(newWord, at: 0)
            self.setUInt16(InternetChecksum.updated(self.uint16(at: 10), replacing: oldWord, with: newWord), at: 10)
        case .v6:
            self.setByte(self.byte(at: 1) & ~0b0011_0000 | ecn.rawValue << 4, at: 1)
        }
    }

    /// Applies the ECN codepoint of the packet that carried this one (RFC 6040 normal mode: only ECT → CE).
    public mutating func applyECN(fromTransport outer: ECN) {
        let decapsulated = self.ecn.decapsulated(outer: outer)
        if decapsulated != self.ecn {
            self.setECN(decapsulated)
        }
    }

    private mutating func setPortOrIdentifier(_ value: UInt16, portOffset: Int) throws(IPPacketError) {
        let fieldOffset: Int
        switch self.ipProtocol {
        case .tcp, .udp:
            fieldOffset = self.transportOffset + portOffset
        default:
            guard let icmp = self.icmp, icmp.isEcho else {
                throw self.error(.noPortOrIdentifier(self.ipProtocol))
            }
            // An echo has one identifier for both directions.
            fieldOffset = self.transportOffset + 4
        }
        let old = self.uint16(at: fieldOffset)
        self.setUInt16(value, at: fieldOffset)
        self.updateTransportChecksum { InternetChecksum.updated($0, replacing: old, with: value) }
    }

    private mutating func writeAddress(_ address: IPAddress, at offset: Int) {
        switch (self.version, address) {
        case (.v4, .v4(let address)):
            self.buffer.setInteger(address.rawValue, at: self.base + offset)
        case (.v6, .v6(let address)):
            self.buffer.setInteger(address.high, at: self.base + offset)
            self.buffer.setInteger(address.low, at: self.base + offset + 8)
        case (.v4, .v6), (.v6, .v4):
            preconditionFailure("an IP\(self.version) packet cannot take the address \(address)")
        }
    }

    private mutating func updateChecksums(replacing old: IPAddress, with new: IPAddress) {
        if self.version == .v4 {
            self.setUInt16(InternetChecksum.updated(self.uint16(at: 10), replacing: old, with: new), at: 10)
        }
        if self.transportChecksumCoversPseudoHeader {
            self.updateTransportChecksum { InternetChecksum.updated($0, replacing: old, with: new) }
        }
    }

    private mutating func updateTransportChecksum(_ update: (UInt16) -> UInt16) {
        guard let offset = self.transportChecksumOffset else {
            return
        }
        let current = self.uint16(at: offset)
        // RFC 768: "An all zero transmitted checksum value means that the transmitter generated no checksum".
        // IPv6 has no such exception (RFC 8200 §8.1).
        if self.ipProtocol == .udp, self.version == .v4, current == 0 {
            return
        }
        let updated = update(current)
        // RFC 1624 §3 gives 0x0000 where a full computation gives 0xFFFF if the covered data is all zeros. Only an
        // ICMPv4 message can be (the other checksums cover a pseudo-header with a non-zero protocol): when the
        // update gives zero, which is rare, compute that checksum afresh.
        if updated == 0, !self.transportChecksumCoversPseudoHeader {
            self.setUInt16(0, at: offset)
            self.setUInt16(self.transportSum().checksum, at: offset)
            return
        }
        self.setUInt16(self.transmittable(updated), at: offset)
    }

    /// RFC 768: a computed UDP checksum of zero "is transmitted as all ones".
    private func transmittable(_ checksum: UInt16) -> UInt16 {
        self.ipProtocol == .udp && checksum == 0 ? 0xFFFF : checksum
    }
}

// MARK: Full computation

extension IPPacket {
    /// Computes the IPv4 header checksum and the transport checksum (TCP, UDP, ICMP, ICMPv6) from scratch.
    public mutating func computeChecksums() {
        if self.version == .v4 {
            self.setUInt16(0, at: 10)
            self.setUInt16(self.ipv4HeaderSum().checksum, at: 10)
        }
        guard let offset = self.transportChecksumOffset else {
            return
        }
        self.setUInt16(0, at: offset)
        self.setUInt16(self.transmittable(self.transportSum().checksum), at: offset)
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
        switch (self.version, self.ipProtocol) {
        case (_, .tcp): self.transportOffset + 16
        case (_, .udp): self.transportOffset + 6
        case (.v4, .icmp), (.v6, .icmpv6): self.transportOffset + 2
        default: nil
        }
    }

    /// TCP, UDP and ICMPv6 checksums cover a pseudo-header with the addresses; ICMPv4's does not.
    ///
    /// With an IPv6 routing header the pseudo-header should carry the final destination (RFC 8200 §8.1); we use
    /// the destination field, as Firezone does: such packets do not occur in the tunnel.
    var transportChecksumCoversPseudoHeader: Bool {
        switch self.ipProtocol {
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
