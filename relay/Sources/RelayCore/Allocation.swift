import FirezoneTime
import IPPacket
import STUN

/// One client's allocation: a relay port on one or both address families (RFC 8656 §2.2).
struct Allocation {
    var client: ClientSocket
    var port: AllocationPort
    var username: String
    /// The families relayed addresses were granted for, IPv4 first.
    var families: [IPVersion]
    var expiresAt: Instant
    /// The channels bound on this allocation, to delete them with it.
    var channels: Set<ChannelNumber> = []

    func serves(_ version: IPVersion) -> Bool {
        self.families.contains(version)
    }
}
