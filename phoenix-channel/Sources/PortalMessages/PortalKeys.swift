import FoundationEssentials

/// A WireGuard public key as the portal carries it: standard base64 of exactly 32 bytes.
public struct PublicKeyBase64: Hashable, Sendable, Codable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Nil unless `bytes` holds exactly 32 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == keyLength else {
            return nil
        }
        self.bytes = bytes
    }

    public init?(base64 text: String) {
        guard let bytes = decodeKey(text) else {
            return nil
        }
        self.bytes = bytes
    }

    public var base64: String {
        Data(self.bytes).base64EncodedString()
    }

    public var description: String {
        self.base64
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let key = Self(base64: try container.decode(String.self)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a base64 key of 32 bytes")
        }
        self = key
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.base64)
    }
}

/// A WireGuard preshared key as the portal carries it: standard base64 of exactly 32 bytes. A secret: its
/// description is redacted, so it never reaches a log by accident.
public struct PresharedKeyBase64: Hashable, Sendable, Codable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Nil unless `bytes` holds exactly 32 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == keyLength else {
            return nil
        }
        self.bytes = bytes
    }

    public init?(base64 text: String) {
        guard let bytes = decodeKey(text) else {
            return nil
        }
        self.bytes = bytes
    }

    public var base64: String {
        Data(self.bytes).base64EncodedString()
    }

    public var description: String {
        "<preshared key>"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let key = Self(base64: try container.decode(String.self)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a base64 key of 32 bytes")
        }
        self = key
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.base64)
    }
}

/// Curve25519 keys and WireGuard preshared keys are 32 bytes.
private let keyLength = 32

private func decodeKey(_ text: String) -> [UInt8]? {
    guard let data = Data(base64Encoded: text), data.count == keyLength else {
        return nil
    }
    return Array(data)
}
