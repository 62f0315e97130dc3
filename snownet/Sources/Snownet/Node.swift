import DequeModule
import FirezoneCrypto
import FirezoneTime
import ICE
import IPPacket
import Logging
import NIOCore
import OrderedCollections
import STUN
import TURNClient
import WireGuard

/// snownet: connections to peers over WireGuard, on the best path ICE finds (direct, or through one relay or two),
/// without IO (Firezone's rust/connlib/snownet/src/node.rs).
///
/// Inputs are calls with bytes and `now`; outputs are drained after every input with ``pollTransmit()``,
/// ``pollEvent()`` and ``pollTimeout()``. Connections and relays are keyed by the caller's IDs. Each connection has
/// an ICE agent (``IceAgent``) and a WireGuard tunnel in one ``WireGuardRouter``; each relay a TURN allocation
/// (``Allocation``) that gives every connection its host and server-reflexive candidates, and the connections that
/// chose it their relayed ones.
public struct Node<ConnectionID: Hashable & Sendable, RelayID: Hashable & Sendable> {
    typealias Router = WireGuardRouter<ConnectionID, IPSocketAddress, AnyInnerSource>

    typealias RelayState = RelayTable<RelayID>.Entry

    public let role: NodeRole
    public internal(set) var publicKey: PublicKey
    public internal(set) var stats = NodeStats()
    var router: Router
    var connections: OrderedDictionary<ConnectionID, Connection<RelayID>> = [:]
    /// Where the connection of the last packet was found in ``connections``: see ``connectionIndex(of:)``.
    var lastConnectionIndex = 0
    var relays = RelayTable<RelayID>()
    var connectionByUfrag: [String: ConnectionID] = [:]
    var requestOwners: [TransactionID: ConnectionID] = [:]
    var requestExpiries: Deque<(expiry: Instant, transaction: TransactionID)> = []
    var deadlines = DeadlineQueue<ConnectionID>()
    var transmits: Deque<NodeTransmit> = []
    var events: Deque<NodeEvent<ConnectionID>> = []
    /// Candidate changes of this input, per connection, signalled together when it returns (batched, as Firezone
    /// 685acdac3a's tunnel does).
    var candidateChanges: OrderedDictionary<ConnectionID, (new: [Candidate], invalidated: [Candidate])> = [:]
    var rng: KeyStream
    /// The SOFTWARE attribute of our TURN requests.
    var software: String
    var unixOffset: Duration
    var lastNow: Instant
    /// Whether the node had a relay since it last reported ``NodeEvent/noRelays``.
    var hadRelays = false
    let logger: Logger
    /// Scratch space for datagrams a tunnel hands out.
    var scratch = ByteBuffer()
    var reply = ByteBuffer()

    /// `seed` keys every random choice (tunnel ephemerals, transaction IDs, relay choice): 32 bytes from the
    /// operating system in a shell, fixed in tests.
    public init(role: NodeRole, secret: StaticSecret, seed: Bytes32, logger: Logger, now: Instant, unixTime: Duration) {
        self.role = role
        var rng = KeyStream(seed: seed)
        let identity = LocalIdentity(secret: secret)
        self.publicKey = identity.publicKey
        self.router = Router(identity: identity, limiterSeed: rng.nextBytes32(), indexSeed: rng.next(), now: now)
        self.rng = rng
        self.software = Self.software(for: identity.publicKey)
        self.unixOffset = unixTime - (now - .zero)
        self.lastNow = now
        self.logger = logger
    }

    /// Firezone 685acdac3a's SOFTWARE (rust/connlib/snownet/src/allocation.rs): the name and a session ID derived
    /// from the node's key, so that a relay
    /// operator can tell one node's allocations apart without learning its key.
    static func software(for key: PublicKey) -> String {
        var input = Array("SESSION-ID".utf8)
        key.rawValue.withUnsafeBytes { input.append(contentsOf: $0) }
        return "snownet; session=" + Hex.encode(SHA256.hash(input)).uppercased()
    }

    var unixTime: Duration {
        self.unixOffset + (self.lastNow - .zero)
    }

    // MARK: Access in place

    /// A relay's state where it is stored. A read such as `relays.entries[index].allocation.method()` copies the
    /// whole element first (the subscript's getter; a borrow of an unsafe pointer's element is copied as well),
    /// retaining and releasing everything the allocation holds: on a relayed packet that cost more than the rest of
    /// the node's work. An `inout` access goes through the subscript's `_modify` and copies nothing.
    mutating func withRelay<Result>(at index: Int, _ body: (inout RelayState) -> Result) -> Result {
        body(&self.relays.entries[index])
    }

    /// The position of connection `id` in ``connections``. The packets of a flow come in runs for one connection, so
    /// the position found last is tried first, checked by comparing its key (two equal IDs usually share their
    /// storage, which makes that a pointer comparison) rather than hashing `id`. The check is the whole
    /// invalidation: a connection added, removed or replaced moves keys, and a position whose key is no longer
    /// `id` is looked up again.
    mutating func connectionIndex(of id: ConnectionID) -> Int? {
        let last = self.lastConnectionIndex
        if last < self.connections.count, self.connections.keys[last] == id {
            return last
        }
        guard let index = self.connections.index(forKey: id) else {
            return nil
        }
        self.lastConnectionIndex = index
        return index
    }

    /// A connection where it is stored (see ``withRelay(at:_:)``; swift-collections' `OrderedDictionary.Values`
    /// reads through a plain getter too, and a copy of a connection copies its ICE agent).
    mutating func withConnection<Result>(at index: Int, _ body: (inout Connection<RelayID>) -> Result) -> Result {
        body(&self.connections.values[index])
    }

    // MARK: Output

    public mutating func pollTransmit() -> NodeTransmit? {
        self.transmits.popFirst()
    }

    public mutating func pollEvent() -> NodeEvent<ConnectionID>? {
        self.events.popFirst()
    }

    /// Whether ``pollTransmit()`` has a datagram: a shell that just sent a packet's datagram itself checks this
    /// instead of polling.
    public var hasPendingTransmits: Bool {
        !self.transmits.isEmpty
    }

    /// The earliest deadline of any connection or allocation.
    public func pollTimeout() -> (deadline: Instant, reason: StaticString)? {
        var earliest = self.deadlines.earliest.map { (deadline: $0, reason: StaticString("connection")) }
        for relay in self.relays.entries {
            if let deadline = relay.allocation.pollTimeout(),
                deadline < earliest?.deadline ?? Instant(nanoseconds: .max)
            {
                earliest = (deadline, "allocation")
            }
        }
        return earliest
    }

    // MARK: Queries

    public var connectionIDs: [ConnectionID] {
        Array(self.connections.keys)
    }

    /// The path a connection's data takes now; nil while none is nominated or for an unknown connection.
    public func path(of connection: ConnectionID) -> ConnectionPath? {
        self.connections[connection]?.path
    }

    /// Whether the connection carries data: a path is nominated and a WireGuard session exists.
    public func isEstablished(_ connection: ConnectionID) -> Bool {
        self.connections[connection]?.established ?? false
    }

    /// Whether a connection is idle (no application traffic for ``ConnectionTiming/idleAfter``).
    public func isIdle(_ connection: ConnectionID) -> Bool {
        if case .idle = self.connections[connection]?.state { true } else { false }
    }

    /// The local candidates a connection signalled, in SDP form.
    public func signalledCandidates(of connection: ConnectionID) -> [String] {
        self.connections[connection]?.signalled.map(\.sdp) ?? []
    }

    /// When the connection's last WireGuard handshake completed; nil before the first or for an unknown connection.
    public func lastHandshake(of connection: ConnectionID) -> Instant? {
        self.router.tunnel(of: connection)?.lastHandshake
    }

    public var relayIDs: [RelayID] {
        self.relays.ids
    }

    /// The relay a connection's relayed candidates come from.
    public func relay(of connection: ConnectionID) -> RelayID? {
        self.connections[connection]?.relay
    }
}

/// The node leaves cryptokey routing to the layer above, which knows the peer's tunnel addresses and the
/// resources it may reach: every decrypted packet passes here.
struct AnyInnerSource: AllowedIPs {
    func allowsSource(of packet: ByteBuffer) -> Bool {
        true
    }
}
