import PortalMessages

/// What the session asks its IO shell to do.
public enum PhoenixAction: Hashable, Sendable {
    /// Open a WebSocket to `url`; report the outcome with `connection`.
    case connect(PhoenixConnectionID, PortalURL)
    /// Send a text frame on the open socket.
    case send(PhoenixConnectionID, String)
    /// Close the socket (if still open) and report nothing more for it.
    case close(PhoenixConnectionID)
}

/// One WebSocket connection attempt. Reports about an earlier attempt than the current one are ignored, so a
/// late close of an abandoned socket cannot tear down its successor.
public struct PhoenixConnectionID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String {
        "#\(self.rawValue)"
    }
}

/// Why a connection attempt did not produce an open WebSocket, as the shell reports it.
public enum PhoenixConnectFailure: Hashable, Sendable, CustomStringConvertible {
    /// The server answered the upgrade with this HTTP status and (plain-text) body.
    case upgradeRejected(status: Int, body: String)
    /// The portal's certificate was rejected: its chain does not verify, or it does not name the host. Never
    /// retried, as in Firezone 685acdac3a: a wrong certificate does not fix itself.
    case tls(String)
    /// Name resolution, TCP, the socket or any other part of the TLS handshake (a reset, an unexpected close)
    /// failed: retried.
    case transport(String)

    public var description: String {
        switch self {
        case .upgradeRejected(let status, let body): "HTTP \(status)\(body.isEmpty ? "" : ": \(body)")"
        case .tls(let detail): "TLS: \(detail)"
        case .transport(let detail): detail
        }
    }
}

/// How an open WebSocket ended, as the shell reports it.
public enum PhoenixSocketClosure: Hashable, Sendable, CustomStringConvertible {
    /// The connection ended without a close frame: the portal stopped or dropped an idle socket.
    case connectionClosed
    /// The portal sent a close frame with this status code (RFC 6455 §7.4.1); nil when the frame carried none.
    case closeFrame(code: UInt16?)
    /// The socket failed (reset, TLS alert, an oversized frame); the error as the shell describes it.
    case failed(String)

    public var description: String {
        switch self {
        case .connectionClosed: "the connection closed"
        case .closeFrame(let code): "the portal closed the WebSocket (code \(code.map { String($0) } ?? "none"))"
        case .failed(let error): error
        }
    }
}

/// Why the session is reconnecting.
public enum PhoenixDisconnect: Hashable, Sendable, CustomStringConvertible {
    case connectFailed(PhoenixConnectFailure)
    case connectTimedOut
    case socketClosed(PhoenixSocketClosure)
    case joinTimedOut
    /// A heartbeat had no reply when the next one was due.
    case heartbeatTimedOut
    /// The server sent `phx_close`.
    case channelClosed
    /// The server sent `disconnect` with a reason other than `token_expired`.
    case disconnected(reason: String)

    public var description: String {
        switch self {
        case .connectFailed(let failure): "connect failed (\(failure))"
        case .connectTimedOut: "connect timed out"
        case .socketClosed(let reason): "socket closed (\(reason))"
        case .joinTimedOut: "join timed out"
        case .heartbeatTimedOut: "heartbeat not answered"
        case .channelClosed: "channel closed by the portal"
        case .disconnected(let reason): "disconnected by the portal (\(reason))"
        }
    }
}

/// Why the session gave up. Each names its cause so that the process can exit with a clear message.
public struct PhoenixFailure: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// A 4xx answer to the upgrade: 401 invalid or missing token, 403 disabled account, …
        case rejected(status: Int, body: String)
        case tls(String)
        /// The join got an error reply.
        case joinRejected(reason: String)
        /// `disconnect` with `token_expired`: the token was deleted or expired.
        case tokenExpired
        /// The portal stayed unreachable for the partition time.
        case partitionTimeout(Duration)
    }

    public var kind: Kind

    public init(_ kind: Kind) {
        self.kind = kind
    }

    public var description: String {
        switch self.kind {
        case .rejected(let status, let body):
            let cause =
                switch status {
                case 401: "the token is invalid or missing"
                case 403: "the account is disabled or access is forbidden"
                case 429: "too many requests"
                default: "the request was refused"
                }
            return "the portal rejected the connection with HTTP \(status) (\(cause))\(body.isEmpty ? "" : ": \(body)")"
        case .tls(let detail):
            return "TLS with the portal failed: \(detail)"
        case .joinRejected(let reason):
            return "the portal refused to join the channel: \(reason)"
        case .tokenExpired:
            return "the portal ended the session: the token expired or was deleted"
        case .partitionTimeout(let duration):
            return "the portal was unreachable for \(duration.wholeSeconds) s (the partition time); giving up"
        }
    }
}

/// What the session reports to its owner.
public enum PhoenixEvent<Inbound: PortalEvents>: Hashable, Sendable {
    /// The join was accepted; queued messages have been sent.
    case joined
    case message(Inbound)
    /// An event outside the topic's set: skip it (and log it).
    case unknownEvent(String)
    /// A frame that could not be read; the connection stays up.
    case malformedMessage(PortalDecodingError)
    /// An error reply to one of our one-way messages.
    case errorReply(reason: String)
    /// `phx_error`: the server-side channel crashed. Logged; if it is gone, the next message gets `unmatched
    /// topic` and we re-join.
    case channelError
    /// The outbound queue was full while not joined: the oldest message was dropped.
    case outboundMessageDropped(event: String)
    /// The connection was lost or could not be made; the next attempt starts after `retryIn`.
    case disconnected(PhoenixDisconnect, retryIn: Duration)
    /// The session gave up. Terminal: nothing follows.
    case failed(PhoenixFailure)
}

/// Counters for the shell to publish.
public struct PhoenixStats: Hashable, Sendable {
    public var messagesSent = 0
    public var messagesReceived = 0
    public var heartbeatsSent = 0
    public var connectAttempts = 0
    public var outboundMessagesDropped = 0
    public var malformedMessages = 0
    public var unknownEvents = 0

    public init() {}
}
