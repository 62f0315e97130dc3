import IPPacket

/// A transport address an ICE agent may be reached at (RFC 8445 §5.1), for component 1 over UDP: Firezone runs one
/// data stream with one component.
///
/// The factories give a candidate str0m's priority for a candidate no agent has ranked yet (local preference 65535
/// for IPv6, 65534 for IPv4); ``IceAgent/addLocalCandidate(_:)`` returns it with its final priority and foundation.
public struct Candidate: Hashable, Sendable, CustomStringConvertible {
    /// The fields, in one immutable box that every copy shares: an agent keeps each candidate in its lists, in every
    /// pair it is part of (a pair holds three) and in the nominated pair, and a gateway has thousands of agents.
    /// Inline, a candidate took 96 bytes and a pair 384.
    private struct Fields {
        let kind: CandidateKind
        let address: IPSocketAddress
        let base: IPSocketAddress
        let priority: UInt32
        let foundation: String
        let relayClientSocket: IPSocketAddress?
    }

    private final class Box: Sendable {
        let fields: Fields

        init(_ fields: Fields) {
            self.fields = fields
        }
    }

    private let box: Box

    public var kind: CandidateKind { self.box.fields.kind }
    /// Where a peer sends to reach this candidate.
    public var address: IPSocketAddress { self.box.fields.address }
    /// RFC 8445 §5.1.1.1: the address the agent sends from for this candidate. A host candidate is its own base, a
    /// server-reflexive one has the host socket it was learned on, a relayed one is its own base (the Node wraps
    /// what it sends from there in TURN channel data). For a remote candidate the base is unknown (SDP carries a
    /// deliberately fake `raddr`) and equals `address`.
    public var base: IPSocketAddress { self.box.fields.base }
    public var priority: UInt32 { self.box.fields.priority }
    /// RFC 8445 §5.1.1.3, in str0m's spelling: 8 hex digits of the priority's bytes in network order, then a hash.
    public var foundation: String { self.box.fields.foundation }
    /// For a local relayed candidate, our socket that talks to the TURN server (str0m's `local`): a relayed
    /// candidate of the other IP family than that socket is ranked lower. Nil for every other candidate.
    public var relayClientSocket: IPSocketAddress? { self.box.fields.relayClientSocket }

    /// A candidate with every field given, for candidates that come from elsewhere (a test, a peer).
    public init(
        kind: CandidateKind,
        address: IPSocketAddress,
        base: IPSocketAddress,
        priority: UInt32,
        foundation: String
    ) {
        self.init(
            kind: kind,
            address: address,
            base: base,
            priority: priority,
            foundation: foundation,
            relayClientSocket: nil
        )
    }

    init(
        kind: CandidateKind,
        address: IPSocketAddress,
        base: IPSocketAddress,
        priority: UInt32,
        foundation: String,
        relayClientSocket: IPSocketAddress?
    ) {
        self.box = Box(
            Fields(
                kind: kind,
                address: address,
                base: base,
                priority: priority,
                foundation: foundation,
                relayClientSocket: relayClientSocket
            )
        )
    }

    /// Equal fields, whether or not the box is shared.
    public static func == (lhs: Candidate, rhs: Candidate) -> Bool {
        lhs.box === rhs.box
            || (lhs.kind == rhs.kind && lhs.address == rhs.address && lhs.base == rhs.base
                && lhs.priority == rhs.priority && lhs.foundation == rhs.foundation
                && lhs.relayClientSocket == rhs.relayClientSocket)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.kind)
        hasher.combine(self.address)
        hasher.combine(self.base)
        hasher.combine(self.priority)
        hasher.combine(self.foundation)
        hasher.combine(self.relayClientSocket)
    }

    /// A local candidate with the given local preference, and its foundation from the resulting priority.
    init(
        kind: CandidateKind,
        address: IPSocketAddress,
        base: IPSocketAddress,
        relayClientSocket: IPSocketAddress?,
        localPreference: UInt32
    ) {
        let priority = Self.priority(kind: kind, localPreference: localPreference)
        self.init(
            kind: kind,
            address: address,
            base: base,
            priority: priority,
            foundation: Self.foundation(kind: kind, base: base, priority: priority),
            relayClientSocket: relayClientSocket
        )
    }

    /// A candidate that no agent has ranked yet: str0m's `local_preference()` default, 65535 for IPv6 and 65534 for
    /// IPv4, whatever the kind. Firezone signals its server-reflexive candidates with this priority, since they
    /// are never added to its agent (the fixture `candidate:fffeff6435be70ddbf995982 1 udp 1694498559 …`).
    init(kind: CandidateKind, address: IPSocketAddress, base: IPSocketAddress, relayClientSocket: IPSocketAddress?) {
        self.init(
            kind: kind,
            address: address,
            base: base,
            relayClientSocket: relayClientSocket,
            localPreference: address.address.version == .v6 ? 65_535 : 65_534
        )
    }

    /// A host candidate: one of our sockets.
    public static func host(_ address: IPSocketAddress) -> Candidate {
        Candidate(kind: .host, address: address, base: address, relayClientSocket: nil)
    }

    /// A server-reflexive candidate: `address` is what a STUN server saw of our socket `base`.
    public static func serverReflexive(_ address: IPSocketAddress, base: IPSocketAddress) -> Candidate {
        Candidate(kind: .serverReflexive, address: address, base: base, relayClientSocket: nil)
    }

    /// A relayed candidate: an address a TURN server allocated for us, reached from a socket of the same family.
    public static func relayed(_ address: IPSocketAddress) -> Candidate {
        Candidate(kind: .relayed, address: address, base: address, relayClientSocket: nil)
    }

    /// A relayed candidate allocated through our socket `clientSocket` to the TURN server; when the two differ in
    /// IP family the candidate ranks lower (str0m's cross-family punishment).
    public static func relayed(_ address: IPSocketAddress, via clientSocket: IPSocketAddress) -> Candidate {
        Candidate(kind: .relayed, address: address, base: address, relayClientSocket: clientSocket)
    }

    /// RFC 8445 §5.1.2.1 with str0m's bands (src/ice/preference.rs at 44ab8e39): host 49152–65535, prflx
    /// 32768–49151, srflx 16384–32767, relay 0–16383; IPv6 takes the odd values (preferred), IPv4 the even ones;
    /// each earlier candidate of the same kind and family costs 2, and a relayed candidate of the other family than
    /// its TURN socket costs 1000. Clamped to the band so that many candidates never wrap into a better kind.
    static func localPreference(
        kind: CandidateKind,
        address: IPSocketAddress,
        relayClientSocket: IPSocketAddress?,
        sameKind: Int
    ) -> UInt32 {
        let top = kind.localPreferenceBandTop
        let bottom = top + 1 - IceConstants.localPreferenceBandWidth
        var penalty = address.address.version == .v6 ? 0 : 1
        penalty += 2 * min(sameKind, Int(IceConstants.localPreferenceBandWidth))
        if kind == .relayed, let relayClientSocket, relayClientSocket.address.version != address.address.version {
            penalty += IceConstants.crossFamilyRelayPenalty
        }
        return UInt32(max(Int(bottom), Int(top) - penalty))
    }

    /// RFC 8445 §5.1.2.1: `2^24 × type preference + 2^8 × local preference + (256 − component)`, component 1.
    static func priority(kind: CandidateKind, localPreference: UInt32) -> UInt32 {
        kind.typePreference << 24 | localPreference << 8 | (256 - IceConstants.component)
    }

    /// str0m's foundation (`Candidate::foundation`): the priority as `format!("{:08x}", prio.to_be())` on a
    /// little-endian host, i.e. its bytes reversed, then the hash of kind, base IP, `raddr` IP and transport.
    /// str0m hashes with Rust's `DefaultHasher`; ours is FNV-1a 64, which only has to give equal foundations to
    /// equal inputs (RFC 8445 §5.1.1.3 leaves the value to the agent).
    static func foundation(kind: CandidateKind, base: IPSocketAddress, priority: UInt32) -> String {
        var hash = FNV1a()
        hash.update(kind.foundationCode)
        hash.update(base.address)
        if kind == .serverReflexive || kind == .relayed {
            hash.update(Self.placeholderRelatedAddress(for: base.address.version).address)
        }
        hash.update("udp")
        return Self.hex(priority.byteSwapped, width: 8) + String(hash.value, radix: 16)
    }

    /// str0m's `arbitrary_raddr`: the related address it signals for server-reflexive and relayed candidates, so
    /// that the peer learns nothing of our host addresses.
    static func placeholderRelatedAddress(for version: IPVersion) -> IPSocketAddress {
        switch version {
        case .v4: IPSocketAddress(.v4(.any), port: 0)
        case .v6: IPSocketAddress(.v6(.unspecified), port: 0)
        }
    }

    static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// The identity of a candidate regardless of priority: what redundancy (RFC 8445 §5.1.3) and invalidation
    /// compare.
    var key: CandidateKey {
        CandidateKey(kind: self.kind, address: self.address, base: self.base)
    }

    public var description: String {
        if self.base == self.address {
            return "\(self.kind) \(self.address) priority \(self.priority)"
        }
        return "\(self.kind) \(self.address) base \(self.base) priority \(self.priority)"
    }
}

/// A candidate's kind and addresses without its priority.
struct CandidateKey: Hashable {
    var kind: CandidateKind
    var address: IPSocketAddress
    var base: IPSocketAddress
}
