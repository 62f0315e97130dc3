import FirezoneTime
import IPPacket

/// Limits the replies the relay sends to unauthenticated requests, per source prefix, so that a spoofed request
/// cannot turn the relay into a reflector that answers a 20-byte request with a reply six times its size.
///
/// Each prefix (IPv4 /24, IPv6 /56: what one customer or one NAT pool holds) gets a token bucket, kept in the
/// generic cell rate algorithm's form: one "theoretical arrival time" per prefix, which moves on by one interval
/// per reply, and a reply is refused while that time runs further ahead of now than the burst allows.
///
/// The table has a fixed number of slots, so memory is bounded whatever the traffic. A prefix hashes (under a key
/// drawn at start, so a sender cannot aim at a slot) to a window of ``probeWindow`` slots; a new prefix takes an
/// empty slot there, or else the slot whose bucket is the fullest, which is the one whose forgetting gives a sender
/// the fewest extra replies.
struct ReplyRateLimiter {
    /// Slots searched per prefix: a few, so lookups stay cheap while collisions rarely evict a busy prefix.
    static let probeWindow = 4

    private struct Slot {
        /// The prefix in ``ReplyRateLimiter/key(of:)``'s form; 0 is an empty slot.
        var prefix: UInt64 = 0
        /// Nanoseconds on the core's clock at which the bucket would be full again.
        var theoreticalArrival: UInt64 = 0
    }

    private var slots: [Slot]
    private let hashKey: UInt64
    private let interval: UInt64
    private let tolerance: UInt64
    private(set) var occupiedSlots = 0

    init(limits: RelayLimits, using rng: inout some RandomNumberGenerator) {
        precondition(limits.rateLimitedPrefixes >= Self.probeWindow, "the rate limiter needs a few slots")
        precondition(limits.unauthenticatedRepliesPerSecond > 0 && limits.unauthenticatedReplyBurst > 0)
        self.slots = Array(repeating: Slot(), count: limits.rateLimitedPrefixes)
        self.hashKey = rng.next()
        self.interval = 1_000_000_000 / UInt64(limits.unauthenticatedRepliesPerSecond)
        self.tolerance = self.interval * UInt64(limits.unauthenticatedReplyBurst - 1)
    }

    /// Whether a reply to `source` may go out at `now`; if so, it is charged to the source's prefix.
    mutating func admit(_ source: IPAddress, now: Instant) -> Bool {
        let prefix = Self.key(of: source)
        let now = now.nanoseconds
        let start = Int(Self.mix(prefix ^ self.hashKey) % UInt64(self.slots.count))
        var chosen = start
        for step in 0..<Self.probeWindow {
            let index = (start + step) % self.slots.count
            let slot = self.slots[index]
            if slot.prefix == prefix {
                chosen = index
                break
            }
            // Keep the first empty slot; otherwise move to a fuller bucket (an earlier arrival time).
            let current = self.slots[chosen]
            if current.prefix != 0, slot.prefix == 0 || slot.theoreticalArrival < current.theoreticalArrival {
                chosen = index
            }
        }
        if self.slots[chosen].prefix != prefix {
            if self.slots[chosen].prefix == 0 {
                self.occupiedSlots += 1
            }
            self.slots[chosen] = Slot(prefix: prefix, theoreticalArrival: now)
        }
        let arrival = max(self.slots[chosen].theoreticalArrival, now)
        guard arrival - now <= self.tolerance else {
            return false
        }
        self.slots[chosen].theoreticalArrival = arrival + self.interval
        return true
    }

    /// The source's prefix with its family in the top bits, never 0.
    static func key(of address: IPAddress) -> UInt64 {
        switch address {
        case .v4(let v4):
            0x4 << 60 | UInt64(v4.rawValue >> (32 - RelayConstants.rateLimitedIPv4PrefixLength))
        case .v6(let v6):
            0x6 << 60 | v6.high >> (64 - RelayConstants.rateLimitedIPv6PrefixLength)
        }
    }

    /// SplitMix64's finaliser: every input bit reaches every output bit.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
