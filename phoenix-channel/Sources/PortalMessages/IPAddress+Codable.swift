import IPPacket

// Addresses travel as their text forms: `"100.64.0.1"`, `"fd00:2021:1111::1"`, `"203.0.113.1:3478"`,
// `"[2001:db8::1]:3478"`. Text that does not parse is a malformed payload, never a crash or a silent zero.

extension IPv4Address: Codable {
    public init(from decoder: any Decoder) throws {
        self = try decodeText(from: decoder, "not an IPv4 address") { IPv4Address($0) }
    }

    public func encode(to encoder: any Encoder) throws {
        try encodeText(self.description, to: encoder)
    }
}

extension IPv6Address: Codable {
    public init(from decoder: any Decoder) throws {
        self = try decodeText(from: decoder, "not an IPv6 address") { IPv6Address($0) }
    }

    public func encode(to encoder: any Encoder) throws {
        try encodeText(self.description, to: encoder)
    }
}

/// Strict: a network with host bits set (`10.0.0.1/8`) is malformed, as in connlib's `ip_network` parsing.
extension IPNetwork: Codable {
    public init(from decoder: any Decoder) throws {
        self = try decodeText(from: decoder, "not a network in CIDR notation with its host bits zero") { IPNetwork($0) }
    }

    public func encode(to encoder: any Encoder) throws {
        try encodeText(self.description, to: encoder)
    }
}

extension IPSocketAddress: Codable {
    public init(from decoder: any Decoder) throws {
        self = try decodeText(from: decoder, "not an address with a port") { IPSocketAddress($0) }
    }

    public func encode(to encoder: any Encoder) throws {
        try encodeText(self.description, to: encoder)
    }
}

/// A value that travels as one JSON string: `parse` reads it, and text it rejects is a `dataCorrupted` error
/// saying `problem`.
func decodeText<Value>(from decoder: any Decoder, _ problem: String, _ parse: (String) -> Value?) throws -> Value {
    let container = try decoder.singleValueContainer()
    guard let value = parse(try container.decode(String.self)) else {
        throw DecodingError.dataCorruptedError(in: container, debugDescription: problem)
    }
    return value
}

/// Encodes a value as one JSON string.
func encodeText(_ text: String, to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(text)
}
