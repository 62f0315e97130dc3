import NIOCore

// MARK: NAT of ICMP errors

extension IPPacket {
    /// Translates an ICMP error for a NAT that rewrote the destination and source port of the packet it quotes: the
    /// quoted packet gets `quotedDestination` and `quotedSourceValue` (a port, or an echo's identifier) back, and the
    /// error itself comes from `source`. Returns `false`, leaving the packet untouched, if this is no ICMP error or
    /// its quote is too short to hold the source port or identifier.
    ///
    /// RFC 5508 §4.2 (REQ-4): a NAT with a mapping for the embedded packet must "revert the IP and transport headers
    /// of the embedded IP packet to their original form" before forwarding the error. The quote is usually cut short (RFC 792 keeps only 8 bytes past
    /// the IP header), so its transport checksum cannot be computed afresh: it is updated incrementally (RFC 1624)
    /// when the quote holds it, as the original packet's checksum would have been. The quoted IPv4 header is whole
    /// and its checksum updated too. The error's own checksums are computed afresh: it is a rare packet.
    public mutating func translateICMPError(
        source: IPAddress,
        quotedDestination: IPAddress,
        quotedSourceValue: UInt16
    ) -> Bool {
        guard
            source.version == self.version, quotedDestination.version == self.version,
            let (_, failed) = try? self.icmpError(), failed.sourceProtocol != nil
        else {
            return false
        }
        let quoteOffset = self.transportOffset + IPPacketConstants.icmpHeaderLength
        let version = self.version
        self.buffer.withUnsafeMutableReadableBytes { bytes in
            QuotedPacketBytes(
                bytes: UnsafeMutableRawBufferPointer(rebasing: bytes[quoteOffset...]),
                version: version,
                ipProtocol: failed.ipProtocol,
                transportOffset: failed.transportOffset
            ).translate(destination: quotedDestination, sourceValue: quotedSourceValue)
        }
        self.setSource(source)
        self.computeChecksums()
        return true
    }
}

/// The packet an ICMP error quotes, during a rewrite: its IP header is whole, its transport header perhaps cut short.
private struct QuotedPacketBytes {
    let bytes: UnsafeMutableRawBufferPointer
    let version: IPVersion
    let ipProtocol: IPProtocol
    let transportOffset: Int

    func translate(destination: IPAddress, sourceValue: UInt16) {
        let old = self.replaceDestination(with: destination)
        let transport = self.transportOffset
        switch self.ipProtocol {
        case .tcp, .udp:
            self.replaceWord(at: transport, with: sourceValue)
            self.updateTransportChecksum { InternetChecksum.updated($0, replacing: old, with: destination) }
        default:
            // An echo request or reply (the caller checked): the identifier is in bytes 4 and 5.
            self.replaceWord(at: transport + 4, with: sourceValue)
            if self.ipProtocol == .icmpv6 {
                self.updateTransportChecksum { InternetChecksum.updated($0, replacing: old, with: destination) }
            }
        }
    }

    private func replaceDestination(with address: IPAddress) -> IPAddress {
        let old: IPAddress
        switch (self.version, address) {
        case (.v4, .v4(let address)):
            let offset = IPPacketConstants.ipv4DestinationOffset
            old = .v4(UnsafeRawBufferPointer(self.bytes).ipv4Address(at: offset))
            self.bytes.setBigEndian(address.rawValue, at: offset)
            let checksumOffset = IPPacketConstants.ipv4HeaderChecksumOffset
            let checksum = self.bytes.bigEndian(at: checksumOffset, as: UInt16.self)
            self.bytes.setBigEndian(
                InternetChecksum.updated(checksum, replacing: old, with: .v4(address)),
                at: checksumOffset
            )
        case (.v6, .v6(let address)):
            let offset = IPPacketConstants.ipv6DestinationOffset
            old = .v6(UnsafeRawBufferPointer(self.bytes).ipv6Address(at: offset))
            self.bytes.setBigEndian(address.high, at: offset)
            self.bytes.setBigEndian(address.low, at: offset + 8)
        case (.v4, .v6), (.v6, .v4):
            preconditionFailure("the caller checked the address family")
        }
        return old
    }

    /// Replaces a 16-bit word of the quoted transport header and updates the quoted checksum for it.
    private func replaceWord(at offset: Int, with value: UInt16) {
        let old = self.bytes.bigEndian(at: offset, as: UInt16.self)
        self.bytes.setBigEndian(value, at: offset)
        self.updateTransportChecksum { InternetChecksum.updated($0, replacing: old, with: value) }
    }

    /// Updates the quoted transport checksum if the quote holds it.
    private func updateTransportChecksum(_ update: (UInt16) -> UInt16) {
        guard
            let offset = IPPacket.transportChecksumOffset(self.version, self.ipProtocol, self.transportOffset),
            offset + 2 <= self.bytes.count
        else {
            return
        }
        let current = self.bytes.bigEndian(at: offset, as: UInt16.self)
        // RFC 768: an IPv4 UDP checksum of zero means none was computed.
        if self.ipProtocol == .udp, self.version == .v4, current == 0 {
            return
        }
        self.bytes.setBigEndian(IPPacket.transmittable(update(current), self.ipProtocol), at: offset)
    }
}
