import STUN

/// Counters the core keeps; the shell publishes them as metrics. Every dimension is bounded.
public struct RelayStats: Sendable, Equatable {
    /// Why a datagram was not relayed or answered.
    public enum DropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
        /// Neither STUN nor channel data by its first byte.
        case notTURN
        case sourcePortZero
        case malformedSTUN
        /// Indications and responses: the relay only answers requests.
        case notARequest
        case malformedChannelData
        /// Channel data on a channel this client has not bound (or whose binding lapsed).
        case unboundChannel
        /// A peer datagram on an allocation port with no channel to its sender.
        case noChannelForPeer
        /// A reply to an unauthenticated request not sent: its source prefix used up its rate (``RelayLimits``).
        case rateLimited

        public var description: String {
            switch self {
            case .notTURN: "not_turn"
            case .sourcePortZero: "source_port_zero"
            case .malformedSTUN: "malformed_stun"
            case .notARequest: "not_a_request"
            case .malformedChannelData: "malformed_channel_data"
            case .unboundChannel: "unbound_channel"
            case .noChannelForPeer: "no_channel_for_peer"
            case .rateLimited: "rate_limited"
            }
        }
    }

    /// A response's method and outcome; `errorCode` is nil for success.
    public struct ResponseKey: Hashable, Comparable, Sendable {
        public var method: UInt16
        public var errorCode: UInt16?

        package init(method: UInt16, errorCode: UInt16?) {
            self.method = method
            self.errorCode = errorCode
        }

        public static func < (lhs: ResponseKey, rhs: ResponseKey) -> Bool {
            (lhs.method, lhs.errorCode ?? 0) < (rhs.method, rhs.errorCode ?? 0)
        }
    }

    public init() {}

    public var allocations = 0
    public var channels = 0
    public var relayedPackets: UInt64 = 0
    public var relayedBytes: UInt64 = 0
    /// Responses sent, by method and error code. Read through ``sortedResponses`` for a stable order.
    public var responses: [ResponseKey: UInt64] = [:]
    /// Drops, indexed by `DropReason.rawValue`.
    public var drops = [UInt64](repeating: 0, count: DropReason.allCases.count)

    public var sortedResponses: [(key: ResponseKey, count: UInt64)] {
        self.responses.sorted { $0.key < $1.key }.map { (key: $0.key, count: $0.value) }
    }

    public func drops(_ reason: DropReason) -> UInt64 {
        self.drops[reason.rawValue]
    }

    mutating func countDrop(_ reason: DropReason) {
        self.drops[reason.rawValue] &+= 1
    }

    mutating func countRelayed(bytes: Int) {
        self.relayedPackets &+= 1
        self.relayedBytes &+= UInt64(bytes)
    }
}
