import FirezoneTime
import IPPacket

/// A binding request we sent and await the answer to.
struct IceTransaction {
    let pairID: UInt64
    let source: IPSocketAddress
    let destination: IPSocketAddress
    /// Our role when sending: a 487 answer switches roles only if it still is (RFC 8445 §7.2.5.1).
    let role: IceRole
    let useCandidate: Bool
    /// The PRIORITY attribute sent: the priority of the peer-reflexive candidate the answer may reveal (§7.1.1).
    let priority: UInt32
    let sent: Instant
}
