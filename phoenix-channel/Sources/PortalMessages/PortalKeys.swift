import FoundationEssentials

/// A 32-byte WireGuard key as the portal carries it: standard base64 of exactly 32 bytes, encoded as a JSON
/// string. The two kinds differ only in how they describe themselves.
public protocol PortalKey: Hashable, Sendable, Codable, CustomStringConvertible {
    var bytes: [UInt8] { get }

    /// A key of `bytes`, which hold exactly ``portalKeyLength`` bytes.
    init(checkedBytes bytes: [UInt8])
}

/// Curve25519 keys and WireGuard preshared keys are 32 bytes.
public let portalKeyLength = 32

extension PortalKey {
    /// Nil unless `bytes` holds exactly 32 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == portalKeyLength else {
            return nil
        }
        self.init(checkedBytes: bytes)
    }

    /// Nil unless `text` is standard base64 of exactly 32 bytes.
    public init?(base64 text: String) {
        guard let data = Data(base64Encoded: text), data.count == portalKeyLength else {
            return nil
        }
        self.init(checkedBytes: Array(data))
    }

    public var base64: String {
        Data(self.bytes).base64EncodedString()
    }

    public init(from decoder: any Decoder) throws {
        self = try decodeText(from: decoder, "not a base64 key of 32 bytes") { Self(base64: $0) }
    }

    public func encode(to encoder: any Encoder) throws {
        try encodeText(self.base64, to: encoder)
    }
}

/// A WireGuard public key as the portal carries it.
public struct PublicKeyBase64: PortalKey {
    public let bytes: [UInt8]

    public init(checkedBytes bytes: [UInt8]) {
        precondition(bytes.count == portalKeyLength, "a public key is 32 bytes")
        self.bytes = bytes
    }

    public var description: String {
        self.base64
    }
}

/// A WireGuard preshared key as the portal carries it. A secret: its description is redacted, so it never reaches
/// a log by accident.
public struct PresharedKeyBase64: PortalKey {
    public let bytes: [UInt8]

    public init(checkedBytes bytes: [UInt8]) {
        precondition(bytes.count == portalKeyLength, "a preshared key is 32 bytes")
        self.bytes = bytes
    }

    public var description: String {
        "<preshared key>"
    }
}
