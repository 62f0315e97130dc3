/// The short-term credentials of one side of an ICE session (RFC 8445 §5.3): the username fragment and password
/// that the portal hands out per connection.
public struct IceCredentials: Hashable, Sendable {
    public var ufrag: String
    public var password: String

    public init(ufrag: String, password: String) {
        self.ufrag = ufrag
        self.password = password
    }

    /// The key of a short-term MESSAGE-INTEGRITY: the password itself (RFC 8489 §9.1.1; Firezone's passwords are
    /// ASCII, so OpaqueString leaves them unchanged).
    var integrityKey: [UInt8] {
        Array(self.password.utf8)
    }
}
