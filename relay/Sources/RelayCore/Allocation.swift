import FirezoneTime
import IPPacket
import NIOCore
import STUN

/// One client's allocation: a relay port on one or both address families (RFC 8656 §2.2).
struct Allocation {
    /// Tells this allocation from a later one on the same port, when the shell reports on a port it opened.
    var id: UInt64
    var client: ClientSocket
    var port: AllocationPort
    var username: String
    /// The families relayed addresses were granted for, IPv4 first.
    var families: [IPVersion]
    var expiresAt: Instant
    /// The time of this allocation's one live entry in the deadline heap; never later than `expiresAt`.
    var scheduledExpiry: Instant
    /// The channels bound on this allocation, to delete them with it.
    var channels: Set<ChannelNumber> = []
    /// Until the shell has opened the port on every family, the families it has opened and the responses
    /// that wait for the outcome.
    var opening: Opening?

    struct Opening {
        var opened: [IPVersion] = []
        /// The success response to the ALLOCATE, sent once every family is open.
        var success: ByteBuffer
        /// The 508 sent instead if the shell cannot open the port.
        var failure: ByteBuffer
    }

    func serves(_ version: IPVersion) -> Bool {
        self.families.contains(version)
    }
}

/// What one username holds: its allocations and the ports it reserved with EVEN-PORT, both of which count against
/// its quota (RFC 8656 §7.2).
struct UsernameHoldings {
    var ports: Set<AllocationPort> = []
    var reservationTokens: Set<UInt64> = []

    var count: Int {
        self.ports.count + self.reservationTokens.count
    }
}

/// An allocation port the shell was asked to open (`.createAllocation`), waiting for it to say whether it could.
struct PortOpening {
    var port: AllocationPort
    var family: IPVersion
    var allocationID: UInt64
    /// The allocation went before the shell reported: a port the shell did open must be closed again.
    var abandoned = false
}
