/// How a NAT keys its mappings or filters inbound datagrams, in the terms of RFC 4787 §4.1 (mapping) and §5
/// (filtering).
public enum NATBehavior: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Mapping: one external socket per internal socket, whatever the destination (REQ-1 asks for this).
    /// Filtering: any remote may send to the mapping.
    case endpointIndependent
    /// Mapping: one external socket per internal socket and remote address. Filtering: only remote addresses
    /// the internal socket has sent to.
    case addressDependent
    /// Mapping: one external socket per internal socket and remote socket ("symmetric NAT"). Filtering: only
    /// remote sockets the internal socket has sent to.
    case addressAndPortDependent

    public var description: String {
        switch self {
        case .endpointIndependent: "endpoint-independent"
        case .addressDependent: "address-dependent"
        case .addressAndPortDependent: "address-and-port-dependent"
        }
    }
}

/// The behaviour of one NAT router.
public struct NATConfiguration: Sendable, Hashable {
    public var mapping: NATBehavior
    public var filtering: NATBehavior
    /// How long a mapping lives without outbound traffic refreshing it. RFC 4787 REQ-5 asks for at least two
    /// minutes; many home routers use 30 s for UDP.
    public var mappingTimeout: Duration
    /// Whether inbound datagrams that pass the filter also refresh the mapping. RFC 4787 §4.3 leaves it to the
    /// NAT; outbound datagrams always refresh (REQ-6).
    public var inboundRefresh: Bool
    /// The first external port handed out; ports are then handed out in order, so traces repeat.
    public var firstPort: UInt16

    public init(
        mapping: NATBehavior,
        filtering: NATBehavior,
        mappingTimeout: Duration = .seconds(120),
        inboundRefresh: Bool = false,
        firstPort: UInt16 = 40000
    ) {
        self.mapping = mapping
        self.filtering = filtering
        self.mappingTimeout = mappingTimeout
        self.inboundRefresh = inboundRefresh
        self.firstPort = firstPort
    }

    /// Endpoint-independent mapping and filtering ("full cone").
    public static let fullCone = NATConfiguration(mapping: .endpointIndependent, filtering: .endpointIndependent)
    /// Endpoint-independent mapping, address-and-port-dependent filtering ("port-restricted cone"): most home
    /// routers.
    public static let portRestrictedCone = NATConfiguration(
        mapping: .endpointIndependent,
        filtering: .addressAndPortDependent
    )
    /// Address-and-port-dependent mapping and filtering: only a relay gets two such hosts talking.
    public static let symmetric = NATConfiguration(
        mapping: .addressAndPortDependent,
        filtering: .addressAndPortDependent
    )
}
