import IPPacket

extension Candidate {
    /// Parses an SDP candidate attribute (RFC 8839 §5.1) as str0m and Firezone write it, leniently: an `a=` prefix,
    /// any whitespace between fields, any case for `udp` and the type, and anything after the type (`raddr`,
    /// `rport`, extensions such as `generation`) are accepted. The related address is ignored: Firezone signals a
    /// placeholder there, and an agent does not need the peer's base.
    public init(parsing sdp: some StringProtocol) throws(CandidateParseError) {
        var line = Substring(sdp)
        line = line.drop { $0 == " " || $0 == "\t" }
        if Self.hasPrefix(line, "a=") {
            line = line.dropFirst(2)
        }
        guard Self.hasPrefix(line, "candidate:") else {
            throw .missingPrefix
        }
        line = line.dropFirst("candidate:".count)
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })
        func field(_ index: Int, _ name: String) throws(CandidateParseError) -> Substring {
            guard index < fields.count else {
                throw .missingField(name)
            }
            return fields[index]
        }

        let foundation = try field(0, "foundation")
        guard (1...IceConstants.maximumFoundationLength).contains(foundation.count),
            foundation.allSatisfy({ ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "+" || $0 == "/" })
        else {
            throw .invalidFoundation(String(foundation))
        }
        let component = try field(1, "component")
        guard UInt32(component) == IceConstants.component else {
            throw .unsupportedComponent(String(component))
        }
        let transport = try field(2, "transport")
        guard transport.lowercased() == "udp" else {
            throw .unsupportedTransport(String(transport))
        }
        let priorityText = try field(3, "priority")
        guard let priority = UInt32(priorityText), priority > 0 else {
            throw .invalidPriority(String(priorityText))
        }
        let addressText = try field(4, "address")
        guard let ip = IPAddress(addressText) else {
            throw .invalidAddress(String(addressText))
        }
        let portText = try field(5, "port")
        guard let port = UInt16(portText), port > 0 else {
            throw .invalidPort(String(portText))
        }
        let typ = try field(6, "type")
        guard typ.lowercased() == "typ" else {
            throw .missingType(String(typ))
        }
        let typeText = try field(7, "type")
        let kind: CandidateKind
        switch typeText.lowercased() {
        case "host": kind = .host
        case "srflx": kind = .serverReflexive
        case "prflx": kind = .peerReflexive
        case "relay": kind = .relayed
        default: throw .unknownType(String(typeText))
        }
        let address = IPSocketAddress(ip, port: port)
        self.init(kind: kind, address: address, base: address, priority: priority, foundation: String(foundation))
    }

    /// The SDP candidate attribute value as str0m writes it (`Candidate::to_sdp_string` at 44ab8e39), with the
    /// placeholder `raddr 0.0.0.0 rport 0` (`raddr :: rport 0` for IPv6) on server-reflexive and relayed candidates
    /// and none on host and peer-reflexive ones.
    public var sdp: String {
        var line =
            "candidate:\(self.foundation) \(IceConstants.component) udp \(self.priority) \(self.address.address) "
            + "\(self.address.port) typ \(self.kind.sdpType)"
        if self.kind == .serverReflexive || self.kind == .relayed {
            let related = Self.placeholderRelatedAddress(for: self.address.address.version)
            line += " raddr \(related.address) rport \(related.port)"
        }
        return line
    }

    private static func hasPrefix(_ text: Substring, _ prefix: String) -> Bool {
        text.count >= prefix.count && text.prefix(prefix.count).lowercased() == prefix
    }
}
