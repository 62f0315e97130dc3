/// Keys travel in JSON (the portal's messages) as one string of standard base64; text that is not exactly 32
/// bytes of canonical base64 is a `dataCorrupted` error that never quotes the text, which may be a secret.
extension PublicKey: Codable {
    public init(from decoder: any Decoder) throws {
        self = try decodeKey(from: decoder, "not a base64 key of 32 bytes") { PublicKey(base64: $0) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.base64)
    }
}

extension PresharedKey: Codable {
    public init(from decoder: any Decoder) throws {
        self = try decodeKey(from: decoder, "not a base64 key of 32 bytes") { PresharedKey(base64: $0) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.base64)
    }
}

private func decodeKey<Key>(from decoder: any Decoder, _ problem: String, _ parse: (String) -> Key?) throws -> Key {
    let container = try decoder.singleValueContainer()
    guard let key = parse(try container.decode(String.self)) else {
        throw DecodingError.dataCorruptedError(in: container, debugDescription: problem)
    }
    return key
}
