import FirezoneTime

/// The limits and timers of ``DNSTCPServer``: every one bounds what an application (or malware) on the host can
/// make the client hold.
public enum DNSTCPServerConstants {
    // MARK: Specification

    /// RFC 9293 §3.7.1: without an MSS option an IPv4 peer accepts 536 bytes of data per segment.
    public static let defaultMSSv4 = 536
    /// RFC 8200 §5: every IPv6 link carries 1280-byte packets, so 1280 - 40 - 20 bytes of data per segment.
    public static let defaultMSSv6 = 1220
    /// RFC 6298 §2.1: the retransmission timeout starts at one second.
    public static let initialRetransmissionTimeout: Duration = .seconds(1)

    // MARK: Implementation

    /// The smallest MSS honoured (Linux's `TCP_MIN_MSS`): a peer announcing less would make a 2 KB answer cost
    /// dozens of segments.
    public static let minimumMSS = 88
    /// RFC 6298 §5.5 doubles the timeout on every retransmission; a cap keeps the last attempts close together.
    public static let maximumRetransmissionTimeout: Duration = .seconds(8)
    /// Retransmissions of one segment before the connection is reset: about 1 + 2 + 4 + 8 + 8 = 23 s of silence,
    /// longer than any DNS client waits for an answer.
    public static let maximumRetransmissions = 5
    /// RFC 7766 §6.2.3 asks servers to close idle connections and leaves the timeout to them. Ten seconds lets an
    /// application pipeline its next queries on the same connection (resolvers reuse one for a burst) while a
    /// forgotten connection costs little.
    public static let idleTimeout: Duration = .seconds(10)
    /// TIME-WAIT (RFC 9293 §3.6) lasts 2 MSL on a network; across a TUN device no old segment lingers, so it only
    /// has to outlive one retransmission of the peer's FIN after a lost ACK (RFC 6298's first timeout is 1 s).
    public static let timeWaitDuration: Duration = .seconds(2)
    /// Concurrent connections. A resolver needs one or two; when the table is full the connection idle the
    /// longest is reset, so that a misbehaving application holding connections open cannot lock the others out
    /// (RFC 7766 §6.2.3 lets servers close connections to manage their resources).
    public static let maximumConnections = 64
    /// Bytes received and not yet cut into queries: the advertised receive window.
    public static let receiveBufferCapacity = 8192
    /// The longest query accepted: queries are a name and a few records (RFC 1035 §4.1), far below this.
    public static let maximumQueryLength = 4096
    /// Queries of one connection handed out and not yet answered (RFC 7766 §6.2.1.1 pipelining). Beyond this the
    /// server stops reading, so the receive window closes and the peer waits.
    public static let maximumOutstandingQueries = 16
    /// Answer bytes waiting to be sent or acknowledged per connection: a full pipeline of 2 KB answers fits
    /// several times over.
    public static let sendBufferCapacity = 131_072
}
