/// The type of a candidate (RFC 8445 §5.1.1), spelt in SDP as `typ host|srflx|prflx|relay`.
public enum CandidateKind: Hashable, Sendable, CustomStringConvertible {
    case host
    case serverReflexive
    case peerReflexive
    case relayed

    /// RFC 8445 §5.1.2.2 type preference, with str0m's values (src/ice/candidate.rs at 44ab8e39, UDP).
    var typePreference: UInt32 {
        switch self {
        case .host: IceConstants.hostTypePreference
        case .peerReflexive: IceConstants.peerReflexiveTypePreference
        case .serverReflexive: IceConstants.serverReflexiveTypePreference
        case .relayed: IceConstants.relayedTypePreference
        }
    }

    /// The highest local preference of this kind's band (str0m's `default_local_preference`): each kind owns a
    /// quarter of the 16-bit range, so a candidate added later never overtakes a better kind.
    var localPreferenceBandTop: UInt32 {
        switch self {
        case .host: 65_535
        case .peerReflexive: 49_151
        case .serverReflexive: 32_767
        case .relayed: 16_383
        }
    }

    /// The SDP `typ` token (RFC 8839 §5.1).
    public var sdpType: String {
        switch self {
        case .host: "host"
        case .serverReflexive: "srflx"
        case .peerReflexive: "prflx"
        case .relayed: "relay"
        }
    }

    /// The value the foundation hash covers for the kind.
    var foundationCode: UInt8 {
        switch self {
        case .host: 0
        case .serverReflexive: 1
        case .peerReflexive: 2
        case .relayed: 3
        }
    }

    public var description: String {
        self.sdpType
    }
}
