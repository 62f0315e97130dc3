import FirezoneTime
import STUN

/// A channel that joins a client's allocation to one peer (RFC 8656 §12).
struct ChannelBinding {
    enum State: Equatable {
        /// Data flows; the binding lapses at `expiresAt` unless refreshed.
        case bound(expiresAt: Instant)
        /// Lapsed: no data flows, but neither the number nor the peer may be bound to another until `reusableAt`.
        case unbound(reusableAt: Instant)
    }

    var client: ClientSocket
    var channel: ChannelNumber
    var peer: PeerSocket
    var port: AllocationPort
    var state: State
    /// The time of this binding's one live entry in the deadline heap: its expiry or its end of reuse delay.
    var scheduled: Instant

    var isBound: Bool {
        if case .bound = self.state {
            return true
        }
        return false
    }

    /// Whether data may flow at `now`: bound and not past its expiry. The data path asks this per packet, so a
    /// binding stops relaying at its expiry even when its timer has not been handled yet (a busy event loop).
    func relays(at now: Instant) -> Bool {
        if case .bound(let expiresAt) = self.state {
            return now < expiresAt
        }
        return false
    }
}

/// The key of a binding as the client sees it.
struct ClientChannel: Hashable, Comparable {
    var client: ClientSocket
    var channel: ChannelNumber

    static func < (lhs: ClientChannel, rhs: ClientChannel) -> Bool {
        (lhs.client, lhs.channel) < (rhs.client, rhs.channel)
    }
}

/// The key of a binding as the peer sees it.
struct PortAndPeer: Hashable {
    var port: AllocationPort
    var peer: PeerSocket
}
