import DequeModule
import FirezoneCrypto
import FirezoneTime
import ICE
import IPPacket
import NIOCore
import STUN

/// One peer connection of a ``Node``: its ICE agent, the relay its relayed candidates come from, and where it
/// stands. Its WireGuard tunnel lives in the node's router under the same ID.
struct Connection<RelayID: Hashable & Sendable> {
    enum State {
        /// ICE has not nominated a pair yet.
        case connecting
        /// A pair is nominated and application traffic flowed within ``ConnectionTiming/idleAfter``.
        case connected
        /// A pair is nominated, a WireGuard session was established, and no application traffic flowed for
        /// ``ConnectionTiming/idleAfter``: ICE checks slowly (``ConnectionTiming/idleCheckInterval``) and the tunnel
        /// keeps no cipher contexts between packets (``WireGuardTunnel/setLowPower(_:)``).
        case idle
    }

    /// Where a sealed datagram goes: from our candidate's base (a host socket, or our relayed address through its
    /// relay) to the peer's candidate.
    struct Route {
        var local: IPSocketAddress
        var remote: IPSocketAddress
        var relayed: Bool
    }

    let remoteKey: PublicKey
    let presharedKey: PresharedKey
    let localCredentials: IceCredentials
    let remoteCredentials: IceCredentials
    var agent: IceAgent
    /// The relay whose allocation gives this connection its relayed candidates; nil while none is usable.
    var relay: RelayID?
    var state = State.connecting
    var nominated: (local: Candidate, remote: Candidate)? {
        didSet {
            self.route = self.nominated.map {
                Route(local: $0.local.base, remote: $0.remote.address, relayed: $0.local.kind == .relayed)
            }
        }
    }
    /// What each packet needs of the nominated pair. A `Candidate` holds a string, so reading `nominated` per packet
    /// would retain and release it.
    private(set) var route: Route?
    /// The TURN channel the last relayed datagram went on: checked by number before the allocation looks the peer
    /// up by address.
    var lastChannel: ChannelNumber?
    /// WireGuard datagrams (handshake messages) made before a pair was nominated, sent once one is.
    var pendingDatagrams: Deque<ByteBuffer> = []
    /// Application packets a client sent before a pair was nominated, encrypted once one is.
    var pendingPackets: Deque<ByteBuffer> = []
    /// Until the first remote candidate arrives: the connection fails at this instant without one.
    var remoteCandidateDeadline: Instant?
    /// From the first remote candidate until a pair is nominated: the connection fails at this instant without
    /// one.
    var nominationDeadline: Instant?
    var lastApplicationTraffic: Instant
    /// When the last datagram went to the peer over the tunnel: the client's keep-alive counts from here.
    var lastTunnelDatagramSent: Instant
    var handshakeCompleted = false
    var established = false
    /// The local candidates signalled to the peer, in the order they were: the de-duplication of server-reflexive
    /// candidates seen through several relays, and what a reused connection signals again.
    var signalled: [Candidate] = []
    /// Optimistic remote candidates added so far (Firezone #10367: IPv4 only, at most two).
    var optimisticCandidates: [Candidate] = []

    init(
        remoteKey: PublicKey,
        presharedKey: PresharedKey,
        localCredentials: IceCredentials,
        remoteCredentials: IceCredentials,
        agent: IceAgent,
        relay: RelayID?,
        now: Instant
    ) {
        self.remoteKey = remoteKey
        self.presharedKey = presharedKey
        self.localCredentials = localCredentials
        self.remoteCredentials = remoteCredentials
        self.agent = agent
        self.relay = relay
        self.remoteCandidateDeadline = now + NodeConstants.remoteCandidateTimeout
        self.lastApplicationTraffic = now
        self.lastTunnelDatagramSent = now
    }

    /// Whether an upsert with these parameters keeps this connection (Firezone #9999: the preshared key counts).
    func matches(
        remoteKey: PublicKey,
        presharedKey: PresharedKey,
        local: IceCredentials,
        remote: IceCredentials
    ) -> Bool {
        self.remoteKey == remoteKey && self.presharedKey == presharedKey && self.localCredentials == local
            && self.remoteCredentials == remote
    }

    /// The path the nominated pair takes.
    var path: ConnectionPath? {
        guard let (local, remote) = self.nominated else {
            return nil
        }
        switch (local.kind == .relayed, remote.kind == .relayed) {
        case (true, true): return .relayToRelay
        case (true, false): return .relayedOnOurSide
        case (false, true): return .relayedOnTheirSide
        case (false, false): return .direct
        }
    }
}
