import FirezoneCrypto
import IPPacket
import WireGuard

/// What `wg setconf` takes (wg(8), CONFIGURATION FILE FORMAT): one `[Interface]` and any number of `[Peer]`s.
public struct DeviceConfiguration: Sendable {
    public var privateKey: StaticSecret
    /// Nil or 0: a random port, as with `wg`.
    public var listenPort: UInt16?
    public var peers: [PeerConfiguration]
}

public struct PeerConfiguration: Sendable {
    public var publicKey: PublicKey
    public var presharedKey: PresharedKey
    public var endpoint: IPSocketAddress?
    public var allowedIPs: [IPNetwork]
    public var persistentKeepalive: Duration?
}

/// A configuration file line we cannot accept; `description` names the file and line, like a compiler.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var line: Int
    public var message: String

    public var description: String {
        "\(self.path):\(self.line): \(self.message)"
    }
}

extension DeviceConfiguration {
    /// Parses the `wg setconf` format: sections, `Key = Value` lines, `#` comments, keys case-insensitive.
    public init(parsing text: String, path: String = "config") throws(ConfigurationError) {
        enum Section {
            case none
            case interface(line: Int)
            case peer(line: Int)
        }
        var section = Section.none
        var privateKey: StaticSecret?
        var interfaceLine: Int?
        var listenPort: UInt16?
        var peers: [PeerConfiguration] = []
        var peerLines: [Int] = []
        var pendingPeer: (publicKey: PublicKey?, configuration: PeerConfiguration)?

        func fail(_ line: Int, _ message: String) -> ConfigurationError {
            ConfigurationError(path: path, line: line, message: message)
        }
        func finishPeer() throws(ConfigurationError) {
            guard let pending = pendingPeer else {
                return
            }
            let line = peerLines.last!
            guard let publicKey = pending.publicKey else {
                throw fail(line, "[Peer] has no PublicKey")
            }
            if peers.contains(where: { $0.publicKey == publicKey }) {
                throw fail(line, "a [Peer] with this PublicKey appears twice")
            }
            var configuration = pending.configuration
            configuration.publicKey = publicKey
            peers.append(configuration)
            pendingPeer = nil
        }

        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") {
                line = line[..<hash]
            }
            let trimmed = line.trimmingWhitespace()
            if trimmed.isEmpty {
                continue
            }
            if trimmed.hasPrefix("[") {
                switch trimmed.lowercased() {
                case "[interface]":
                    try finishPeer()
                    if interfaceLine != nil {
                        throw fail(number, "a second [Interface] section")
                    }
                    interfaceLine = number
                    section = .interface(line: number)
                case "[peer]":
                    try finishPeer()
                    peerLines.append(number)
                    pendingPeer = (
                        nil,
                        PeerConfiguration(
                            publicKey: PublicKey(.zero),
                            presharedKey: .none,
                            endpoint: nil,
                            allowedIPs: [],
                            persistentKeepalive: nil
                        )
                    )
                    section = .peer(line: number)
                default:
                    throw fail(number, "unknown section \(trimmed); expected [Interface] or [Peer]")
                }
                continue
            }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw fail(number, "expected 'Key = Value'")
            }
            let key = trimmed[..<equals].trimmingWhitespace().lowercased()
            let value = trimmed[trimmed.index(after: equals)...].trimmingWhitespace()
            switch section {
            case .none:
                throw fail(number, "'\(key)' outside of a section")
            case .interface:
                switch key {
                case "privatekey":
                    guard let parsed = StaticSecret(base64: value) else {
                        throw fail(number, "PrivateKey is not a base64 key of 32 bytes")
                    }
                    privateKey = parsed
                case "listenport":
                    guard let port = UInt16(value) else {
                        throw fail(number, "ListenPort '\(value)' is not a port number")
                    }
                    listenPort = port
                default:
                    throw fail(number, "unknown [Interface] key '\(key)' (supported: PrivateKey, ListenPort)")
                }
            case .peer:
                switch key {
                case "publickey":
                    guard let parsed = PublicKey(base64: value) else {
                        throw fail(number, "PublicKey is not a base64 key of 32 bytes")
                    }
                    pendingPeer!.publicKey = parsed
                case "presharedkey":
                    guard let parsed = PresharedKey(base64: value) else {
                        throw fail(number, "PresharedKey is not a base64 key of 32 bytes")
                    }
                    pendingPeer!.configuration.presharedKey = parsed
                case "endpoint":
                    guard let parsed = IPSocketAddress(value), parsed.port != 0 else {
                        throw fail(
                            number,
                            "Endpoint '\(value)' is not an IP address and port (host names are not resolved)"
                        )
                    }
                    pendingPeer!.configuration.endpoint = parsed
                case "allowedips":
                    for item in value.split(separator: ",") {
                        let text = item.trimmingWhitespace()
                        do throws(IPNetworkError) {
                            pendingPeer!.configuration.allowedIPs.append(try Self.allowedIP(text))
                        } catch {
                            throw fail(number, "AllowedIPs entry '\(text)' is not an address/prefix: \(error)")
                        }
                    }
                case "persistentkeepalive":
                    if value.lowercased() == "off" || value == "0" {
                        pendingPeer!.configuration.persistentKeepalive = nil
                    } else {
                        guard let seconds = UInt16(value) else {
                            throw fail(number, "PersistentKeepalive '\(value)' is not a number of seconds or 'off'")
                        }
                        pendingPeer!.configuration.persistentKeepalive = .seconds(Int(seconds))
                    }
                default:
                    throw fail(
                        number,
                        "unknown [Peer] key '\(key)' (supported: PublicKey, PresharedKey, Endpoint, AllowedIPs, PersistentKeepalive)"
                    )
                }
            }
        }
        try finishPeer()
        guard let interfaceLine else {
            throw fail(1, "no [Interface] section")
        }
        guard let privateKey else {
            throw fail(interfaceLine, "[Interface] has no PrivateKey")
        }
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.peers = peers
    }

    /// An AllowedIPs entry as `wg` reads it: `address/prefix` with host bits cleared, or a bare address for
    /// that one host.
    private static func allowedIP(_ text: Substring) throws(IPNetworkError) -> IPNetwork {
        if !text.contains("/"), let address = IPAddress(text) {
            return IPNetwork(host: address)
        }
        return try IPNetwork(masking: text)
    }
}

extension StringProtocol {
    fileprivate func trimmingWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = self.firstIndex(where: { !isSpace($0) }) else {
            return Substring()
        }
        let last = self.lastIndex(where: { !isSpace($0) })!
        return Substring(self[first...last])
    }
}
