import FirezoneCrypto

/// The WebSocket URL of a portal socket, as Firezone 685acdac3a builds it
/// (rust/connlib/phoenix-channel/src/login_url.rs): the API URL's path with `/<topic>/websocket` appended, `http`/`ws`
/// mapped to `ws` and `https`/`wss` to `wss`, and a query of `token` first, then the component's login parameters in
/// their fixed order.
///
/// The token is a secret: ``description`` prints the URL with it redacted, and only ``requestTarget`` (handed to
/// the socket, never to a log) carries it.
public struct PortalURL: Hashable, Sendable, CustomStringConvertible {
    public enum Scheme: String, Hashable, Sendable {
        case ws, wss
    }

    public var scheme: Scheme
    /// A name or an address; IPv6 addresses without brackets.
    public var host: String
    public var port: Int
    /// The component's login parameters, the query after the token.
    public var parameters: LoginParameters
    /// The path and the token, the request target's part that never changes.
    private var pathAndToken: String

    /// Path and query, as the HTTP request line carries them.
    public var requestTarget: String {
        self.pathAndToken
            + self.parameters.pairs.map { "&\(FormEncoding.encode($0.0))=\(FormEncoding.encode($0.1))" }.joined()
    }

    public init(
        apiURL: String,
        topic: String,
        token: String,
        parameters: LoginParameters
    ) throws(PortalURLError) {
        guard let schemeEnd = apiURL.firstRange(of: "://") else {
            throw PortalURLError("the API URL '\(apiURL)' has no scheme (ws://, wss://, http:// or https://)")
        }
        switch apiURL[..<schemeEnd.lowerBound].lowercased() {
        case "ws", "http": self.scheme = .ws
        case "wss", "https": self.scheme = .wss
        default:
            throw PortalURLError("the API URL '\(apiURL)' must use ws://, wss://, http:// or https://")
        }
        var rest = apiURL[schemeEnd.upperBound...]
        // The query and fragment of the API URL are replaced by ours.
        if let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            rest = rest[..<end]
        }
        let authority = rest.firstIndex(of: "/").map { rest[..<$0] } ?? rest
        let path = rest[authority.endIndex...]
        guard !authority.contains("@") else {
            throw PortalURLError("the API URL must not carry credentials; the token is passed separately")
        }

        var host = Substring(authority)
        var port: Int? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw PortalURLError("the API URL '\(apiURL)' has an unterminated IPv6 address")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let number = Int(after.dropFirst()) else {
                    throw PortalURLError("the API URL '\(apiURL)' has an invalid port")
                }
                port = number
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let number = Int(authority[authority.index(after: colon)...]) else {
                throw PortalURLError("the API URL '\(apiURL)' has an invalid port")
            }
            port = number
        }
        guard !host.isEmpty else {
            throw PortalURLError("the API URL '\(apiURL)' has no host")
        }
        if let port, !(1...65535).contains(port) {
            throw PortalURLError("the API URL '\(apiURL)' has an invalid port")
        }
        self.host = String(host)
        // Firezone 685acdac3a connects to 443 whenever the URL names no port, even for ws:// (a quirk of its host
        // parsing); we use each scheme's own default.
        self.port = port ?? (self.scheme == .wss ? 443 : 80)

        var segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if segments.last == "" {
            segments.removeLast()
        }
        segments += [topic, "websocket"]
        self.pathAndToken = "/" + segments.joined(separator: "/") + "?token=" + FormEncoding.encode(token)
        self.parameters = parameters
    }

    /// The URL with the token's value replaced by `<redacted>`.
    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        var target = self.requestTarget
        if let start = target.firstRange(of: "?token=") {
            let end = target[start.upperBound...].firstIndex(of: "&") ?? target.endIndex
            target.replaceSubrange(start.upperBound..<end, with: "<redacted>")
        }
        return "\(self.scheme.rawValue)://\(host):\(self.port)\(target)"
    }
}

public struct PortalURLError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// The query parameters after `token`, in Firezone 685acdac3a's order: `external_id`, `name`, `ipv4`, `ipv6`, `port`,
/// the client's device identifiers, then `public_key`. Absent values are left out.
public struct LoginParameters: Hashable, Sendable {
    public private(set) var pairs: [(String, String)]

    private init(pairs: [(String, String?)]) {
        self.pairs = pairs.compactMap { name, value in value.map { (name, $0) } }
    }

    /// A relay: its name and the public addresses and port clients reach it on.
    public static func relay(name: String?, ipv4: String?, ipv6: String?, port: UInt16) -> LoginParameters {
        LoginParameters(pairs: [("name", name), ("ipv4", ipv4), ("ipv6", ipv6), ("port", String(port))])
    }

    /// A gateway: its id (sent as `external_id`, see ``externalID(for:)``), name and WireGuard public key.
    public static func gateway(id: String, name: String?, publicKey: String) -> LoginParameters {
        LoginParameters(pairs: [("external_id", Self.externalID(for: id)), ("name", name), ("public_key", publicKey)])
    }

    /// A client: its id (sent as `external_id`, see ``externalID(for:)``), name, device identifiers and WireGuard
    /// public key.
    public static func client(
        id: String,
        name: String?,
        deviceSerial: String? = nil,
        deviceUUID: String? = nil,
        publicKey: String
    ) -> LoginParameters {
        LoginParameters(pairs: [
            ("external_id", Self.externalID(for: id)), ("name", name), ("device_serial", deviceSerial),
            ("device_uuid", deviceUUID), ("public_key", publicKey),
        ])
    }

    /// What Firezone 685acdac3a sends as `external_id`: the lower-case hex of SHA-256 of the id's text when the id is a
    /// UUID (so the portal never sees the id a device keeps on disk), otherwise the id itself.
    public static func externalID(for id: String) -> String {
        guard Self.isUUID(id) else {
            return id
        }
        let hex = Array("0123456789abcdef".unicodeScalars)
        var text = ""
        for byte in SHA256.hash(Array(id.utf8)) {
            text.unicodeScalars.append(hex[Int(byte >> 4)])
            text.unicodeScalars.append(hex[Int(byte & 0xF)])
        }
        return text
    }

    /// `8-4-4-4-12` hex digits, either case (what the `uuid` crate's `from_str` accepts in its hyphenated form).
    static func isUUID(_ text: String) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    /// The same parameters with `public_key` set to `publicKey`: a client signs in again with the key its reset
    /// made (Firezone 685acdac3a's rust/client-shared/src/eventloop.rs connects with the new `PublicKeyParam`).
    public func replacingPublicKey(with publicKey: String) -> LoginParameters {
        var copy = self
        copy.pairs = self.pairs.map { name, value in (name, name == "public_key" ? publicKey : value) }
        return copy
    }

    public static func == (lhs: LoginParameters, rhs: LoginParameters) -> Bool {
        lhs.pairs.elementsEqual(rhs.pairs) { $0 == $1 }
    }

    public func hash(into hasher: inout Hasher) {
        for (name, value) in self.pairs {
            hasher.combine(name)
            hasher.combine(value)
        }
    }
}

/// `application/x-www-form-urlencoded`, as the `url` crate's `query_pairs_mut` writes it: alphanumerics and
/// `*-._` stay, space becomes `+`, every other byte of the UTF-8 is `%XX`.
enum FormEncoding {
    static func encode(_ text: String) -> String {
        var output = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "*"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                output += "+"
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                output += "%"
                output.unicodeScalars.append(hex[Int(byte >> 4)])
                output.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return output
    }
}
