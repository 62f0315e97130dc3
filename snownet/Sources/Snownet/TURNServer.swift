import TURNClient

/// A relay the portal told the node to use, with the credentials it issued for it.
public struct TURNServer<RelayID: Hashable & Sendable>: Hashable, Sendable, CustomStringConvertible {
    public var id: RelayID
    public var socket: RelaySocket
    public var username: String
    public var password: String
    public var realm: String

    public init(id: RelayID, socket: RelaySocket, username: String, password: String, realm: String) {
        self.id = id
        self.socket = socket
        self.username = username
        self.password = password
        self.realm = realm
    }

    /// The password stays out of logs.
    public var description: String {
        "TURNServer(\(self.id), \(self.socket), username \(self.username), realm \(self.realm))"
    }
}
