import FirezoneTesting

/// Where a host of the simulated tunnel sits: on the public internet, or behind a NAT router of one of the kinds
/// RFC 4787 describes. A sequence's seed draws one for the client (again on every roam) and one for each gateway.
enum HostPlacement: CaseIterable, CustomStringConvertible {
    case publicInternet
    /// Endpoint-independent mapping and filtering (RFC 4787 §4.1, §5).
    case fullCone
    /// Endpoint-independent mapping, address-and-port-dependent filtering: most home routers.
    case portRestrictedCone
    /// Address-and-port-dependent mapping and filtering: two such hosts reach each other only through a relay.
    case symmetric

    var nat: NATConfiguration? {
        switch self {
        case .publicInternet: nil
        case .fullCone: .fullCone
        case .portRestrictedCone: .portRestrictedCone
        case .symmetric: .symmetric
        }
    }

    static func random(using rng: inout SeededRandomNumberGenerator) -> HostPlacement {
        Self.allCases[Int.random(in: 0..<Self.allCases.count, using: &rng)]
    }

    var description: String {
        switch self {
        case .publicInternet: "public internet"
        case .fullCone: "full-cone NAT"
        case .portRestrictedCone: "port-restricted cone NAT"
        case .symmetric: "symmetric NAT"
        }
    }
}
