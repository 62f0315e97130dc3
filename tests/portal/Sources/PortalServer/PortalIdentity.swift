import FirezoneCrypto
import IPPacket
import PortalMessages

/// Who a socket belongs to, established from its token and query parameters before the upgrade.
enum PortalIdentity: Hashable, Sendable {
    case client(ClientID, publicKey: PublicKey)
    case gateway(GatewayID, publicKey: PublicKey)
    case relay(RelayID, ipv4: IPv4Address?, ipv6: IPv6Address?, port: UInt16)

    var topic: String {
        switch self {
        case .client: ClientTopic.name
        case .gateway: GatewayTopic.name
        case .relay: RelayTopic.name
        }
    }

    var componentID: String {
        switch self {
        case .client(let id, _): id.rawValue
        case .gateway(let id, _): id.rawValue
        case .relay(let id, _, _, _): id.rawValue
        }
    }
}

/// Why an upgrade is refused: the HTTP status and the plain-text reason Firezone 685acdac3a's portal sends.
struct PortalRefusal: Error, Hashable, Sendable {
    var status: Int
    var reason: String

    static let missingToken = PortalRefusal(status: 401, reason: "Missing token")
    static let invalidToken = PortalRefusal(status: 401, reason: "Invalid token")
    static let notFound = PortalRefusal(status: 404, reason: "Not found")
}

/// The path and the form-encoded query of a request target.
struct RequestTarget {
    var path: String
    var query: [(String, String)]

    init(_ uri: String) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        self.path = String(parts.first ?? "")
        self.query =
            parts.count < 2
            ? []
            : parts[1].split(separator: "&").map { pair in
                let halves = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (Self.decode(halves[0]), halves.count > 1 ? Self.decode(halves[1]) : "")
            }
    }

    /// The first value of `name`.
    subscript(name: String) -> String? {
        self.query.first { $0.0 == name }?.1
    }

    /// `application/x-www-form-urlencoded`: `+` is a space, `%XX` a byte; malformed escapes stay as they are.
    static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
