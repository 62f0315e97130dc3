/// Why ``DNSTCPServer`` reset or dropped something, each counted in ``DNSTCPServerStats``.
public enum DNSTCPDropReason: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// A packet handed to the server that is not TCP.
    case notTCP
    /// A segment for no connection, or to a port other than 53: answered with a reset (RFC 9293 §3.10.7.1).
    case noConnection
    /// Data beyond the next expected byte: dropped and acknowledged with what was received, so the peer resends.
    case outOfOrder
    /// Data beyond the advertised receive window.
    case beyondWindow
    /// A segment whose acknowledgment does not match the connection (RFC 9293 §3.10.7.4).
    case unacceptableAcknowledgment
    /// A length prefix above ``DNSTCPServerConstants/maximumQueryLength``: the connection is reset.
    case oversizedQuery
    /// A zero length prefix, or a query the stub could not read: the connection is reset.
    case malformedQuery
    /// An answer that does not fit the connection's send buffer: the connection is reset.
    case sendBufferFull
    /// The connection table was full: the connection idle the longest was reset for a new one.
    case evicted
    /// The peer stopped acknowledging: reset after ``DNSTCPServerConstants/maximumRetransmissions``.
    case retransmissionsExhausted
    /// Idle past ``DNSTCPServerConstants/idleTimeout`` a second time, or while closing.
    case idle
    /// An answer for a connection that no longer exists.
    case answerForClosedConnection
    /// An answer for a connection with no query waiting for one.
    case unexpectedAnswer

    public var description: String {
        switch self {
        case .notTCP: "not TCP"
        case .noConnection: "no connection"
        case .outOfOrder: "out of order"
        case .beyondWindow: "beyond window"
        case .unacceptableAcknowledgment: "unacceptable acknowledgment"
        case .oversizedQuery: "oversized query"
        case .malformedQuery: "malformed query"
        case .sendBufferFull: "send buffer full"
        case .evicted: "evicted"
        case .retransmissionsExhausted: "retransmissions exhausted"
        case .idle: "idle"
        case .answerForClosedConnection: "answer for closed connection"
        case .unexpectedAnswer: "unexpected answer"
        }
    }
}

/// The counters of ``DNSTCPServer``, for the shell to publish.
public struct DNSTCPServerStats: Hashable, Sendable {
    private var drops = [UInt64](repeating: 0, count: DNSTCPDropReason.allCases.count)
    public var connectionsAccepted: UInt64 = 0
    public var queriesReceived: UInt64 = 0
    public var answersSent: UInt64 = 0
    public var retransmissions: UInt64 = 0
    public var resetsSent: UInt64 = 0

    public init() {}

    public subscript(reason: DNSTCPDropReason) -> UInt64 {
        self.drops[Self.index(of: reason)]
    }

    mutating func count(_ reason: DNSTCPDropReason) {
        self.drops[Self.index(of: reason)] += 1
    }

    private static func index(of reason: DNSTCPDropReason) -> Int {
        DNSTCPDropReason.allCases.firstIndex(of: reason)!
    }
}
