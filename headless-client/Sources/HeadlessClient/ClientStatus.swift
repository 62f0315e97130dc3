import ConnlibCore
import FirezoneTime
import PortalMessages
import Snownet

/// What the running client shows a person (`firezone-headless-client status`): whether it is signed in, its
/// resources with their state, and its connections with their path and last WireGuard handshake.
///
/// Written by the client as JSON (``StatusFile``), read and rendered (``render(now:)``) by the `status` command.
/// Every list is in a fixed order (resources as the portal lists them, connections by gateway ID), so that two
/// writes of the same state are the same bytes.
public struct ClientStatus: Codable, Sendable, Hashable {
    public struct Resource: Codable, Sendable, Hashable {
        public var id: String
        public var name: String
        /// `dns`, `cidr` or `internet`.
        public var type: String
        /// The address pattern or network; nil for the Internet resource.
        public var address: String?
        /// `online`, `offline` or `unknown` (connlib's `ResourceStatus`).
        public var status: String
        /// For the Internet resource: whether it routes traffic now.
        public var isActive: Bool

        public init(_ view: ClientResourceView) {
            switch view.resource {
            case .dns(let resource):
                (self.name, self.type, self.address) = (resource.name, "dns", resource.address)
            case .cidr(let resource):
                (self.name, self.type, self.address) = (resource.name, "cidr", "\(resource.address)")
            case .internet(let resource):
                (self.name, self.type, self.address) = (resource.name ?? "Internet", "internet", nil)
            }
            self.id = view.resource.id.rawValue
            switch view.status {
            case .online: self.status = "online"
            case .offline: self.status = "offline"
            case .unknown: self.status = "unknown"
            }
            self.isActive = view.isActive
        }
    }

    public struct Connection: Codable, Sendable, Hashable {
        public var gatewayID: String
        /// `direct`, `relayed (our relay)`, `relayed (their relay)`, `relay to relay`; nil while ICE is still
        /// checking.
        public var path: String?
        public var established: Bool
        /// Seconds between the last handshake and the moment the status was written; nil before the first.
        public var secondsSinceHandshake: Int64?

        public init(gatewayID: String, path: ConnectionPath?, established: Bool, secondsSinceHandshake: Int64?) {
            self.gatewayID = gatewayID
            self.path = path?.description
            self.established = established
            self.secondsSinceHandshake = secondsSinceHandshake
        }
    }

    public var signedIn: Bool
    public var resources: [Resource]
    public var connections: [Connection]
    /// Seconds since the Unix epoch when the client wrote this.
    public var writtenAt: Int64

    public init(signedIn: Bool, resources: [Resource], connections: [Connection], writtenAt: Int64) {
        self.signedIn = signedIn
        self.resources = resources
        self.connections = connections.sorted { $0.gatewayID < $1.gatewayID }
        self.writtenAt = writtenAt
    }

    /// The status of `state` now: its resources as the last ``ClientEvent/resourcesChanged(_:)`` listed them.
    public init(
        signedIn: Bool,
        resources: [ClientResourceView],
        state: ClientState,
        now: Instant,
        unixTime: Duration
    ) {
        let connections = state.node.connectionIDs.map { gateway in
            Connection(
                gatewayID: gateway.rawValue,
                path: state.node.path(of: gateway),
                established: state.node.isEstablished(gateway),
                secondsSinceHandshake: state.node.lastHandshake(of: gateway).map { (now - $0).wholeSeconds }
            )
        }
        self.init(
            signedIn: signedIn,
            resources: resources.map(Resource.init),
            connections: connections,
            writtenAt: unixTime.wholeSeconds
        )
    }

    /// The status for a person; `unixTime` tells how old the file is.
    public func render(unixTime: Int64) -> String {
        var lines = ["Signed in: \(self.signedIn ? "yes" : "no")"]
        let age = unixTime - self.writtenAt
        if age > Self.staleAfterSeconds {
            lines.append("(written \(age) s ago: the client may not be running)")
        }
        lines.append("")
        lines.append("Resources (\(self.resources.count)):")
        for resource in self.resources {
            var line = "  \(Self.pad(resource.status, 8)) \(Self.pad(resource.type, 9)) \(resource.name)"
            if let address = resource.address {
                line += "  \(address)"
            }
            if resource.type == "internet" {
                line += resource.isActive ? "  (active)" : "  (inactive)"
            }
            lines.append(line)
        }
        lines.append("")
        lines.append("Connections (\(self.connections.count)):")
        for connection in self.connections {
            let path = connection.path ?? "connecting"
            let handshake = connection.secondsSinceHandshake.map { "last handshake \($0) s ago" } ?? "no handshake yet"
            lines.append("  gateway \(connection.gatewayID)  \(path)  \(handshake)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The client rewrites the file at least this often while it runs; an older one is flagged.
    public static let staleAfterSeconds: Int64 = 10

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
