import IPPacket

/// The address and port of a TURN client, as seen on the relay's listening port.
public struct ClientSocket: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var address: IPSocketAddress

    @inlinable
    public init(_ address: IPSocketAddress) {
        self.address = address
    }

    public static func < (lhs: ClientSocket, rhs: ClientSocket) -> Bool { lhs.address < rhs.address }
    public var description: String { self.address.description }
}

/// The address and port of a peer that a client relays to, as seen on an allocation port.
public struct PeerSocket: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var address: IPSocketAddress

    @inlinable
    public init(_ address: IPSocketAddress) {
        self.address = address
    }

    public static func < (lhs: PeerSocket, rhs: PeerSocket) -> Bool { lhs.address < rhs.address }
    public var description: String { self.address.description }
}

/// The relay port of an allocation; an allocation with both families uses the same port for each.
public struct AllocationPort: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt16

    @inlinable
    public init(_ value: UInt16) {
        self.value = value
    }

    public static func < (lhs: AllocationPort, rhs: AllocationPort) -> Bool { lhs.value < rhs.value }
    public var description: String { String(self.value) }
}
