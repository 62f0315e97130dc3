/// The 24-bit part of our session indices that names a peer (a connection), unique per node.
///
/// Firezone demultiplexes incoming responses, cookie replies and data by it: `receiverIndex >> 8` (Firezone #10109).
public struct PeerIndex: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let maximum: UInt32 = (1 << 24) - 1

    public let rawValue: UInt32

    /// `rawValue` must fit in 24 bits.
    public init(_ rawValue: UInt32) {
        precondition(rawValue <= Self.maximum, "a peer index has 24 bits")
        self.rawValue = rawValue
    }

    public static func < (lhs: PeerIndex, rhs: PeerIndex) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String {
        "\(self.rawValue)"
    }
}

/// A local session index as it appears on the wire: the peer's 24-bit index, then an 8-bit session slot
/// (Firezone's rust/connlib/snownet/src/node.rs and its boringtun fork). Logged as `(peer|slot)` (Firezone #10135).
public struct SessionIndex: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    public init(peer: PeerIndex, slot: UInt8) {
        self.rawValue = peer.rawValue << 8 | UInt32(slot)
    }

    public var peer: PeerIndex {
        PeerIndex(self.rawValue >> 8)
    }

    public var slot: UInt8 {
        UInt8(truncatingIfNeeded: self.rawValue)
    }

    public static func < (lhs: SessionIndex, rhs: SessionIndex) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String {
        "(\(self.peer.rawValue)|\(self.slot))"
    }
}
