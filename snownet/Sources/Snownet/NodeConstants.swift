/// The node's own limits and timers; the connection timers of low-power idle connections are ``ConnectionTiming``.
public enum NodeConstants {
    /// Relays listen here; only datagrams from this port are taken for relay traffic (Firezone's
    /// rust/connlib/snownet/src/node.rs).
    public static let relayPort: UInt16 = 3478
    /// A connection that got no remote candidate for this long fails (Firezone's rust/connlib/snownet/src/node.rs).
    public static let remoteCandidateTimeout: Duration = .seconds(10)
    /// A connection that has the peer's candidates but no nominated pair this long later fails: a pair's checks
    /// give up after about 9 s of retransmissions, and a controlled agent whose peer went away (a replaced
    /// connection, a restarted client) would otherwise wait for a nomination forever.
    public static let nominationTimeout: Duration = .seconds(15)
    /// A connection's WireGuard handshake is retried for this long before the connection fails: longer than ICE's own
    /// ~10 s failure detection, far shorter than classic WireGuard's 90 s (Firezone 685acdac3a sets its `Tunn`'s rekey
    /// attempt time).
    public static let handshakeTimeout: Duration = .seconds(15)
    /// Datagrams and packets kept per connection while it is being set up, each (Firezone's
    /// rust/connlib/snownet/src/node.rs).
    public static let setupBufferCapacity = 128
    /// How long the node remembers which connection sent an ICE request, to route its response.
    public static let transactionLifetime: Duration = .seconds(10)
    /// Remote candidates the node guesses per connection (Firezone #10367).
    public static let maximumOptimisticCandidates = 2
    /// Bytes ``Node/encapsulate(_:for:now:)`` needs in front of the packet: the WireGuard transport header and a
    /// TURN channel-data header.
    public static let headroom = 16 + 4
    /// Bytes it needs behind the packet: up to 15 of padding and the 16-byte tag.
    public static let tailroom = 15 + 16
}
