/// What an address an allocation learned is (Firezone's rust/connlib/snownet/src/node.rs): the caller turns these into ICE candidates.
public enum AllocationAddressKind: Hashable, Sendable, CustomStringConvertible {
    /// The local socket a BINDING response arrived on (Firezone #9998).
    case host
    /// The XOR-MAPPED-ADDRESS of a BINDING response (RFC 8489 §14.2).
    case serverReflexive
    /// The XOR-RELAYED-ADDRESS of an ALLOCATE response (RFC 8656 §18.5).
    case relayed

    public var description: String {
        switch self {
        case .host: "host"
        case .serverReflexive: "srflx"
        case .relayed: "relay"
        }
    }
}
