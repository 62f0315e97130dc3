/// Why the client dropped a packet or a message, each counted in ``ClientStats``.
public enum ClientDropReason: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// A multicast packet from the TUN device other than LLMNR.
    case multicast
    /// A packet from the TUN device to an address no packet may be sent to: `0.0.0.0/8`, `::` or
    /// `255.255.255.255`.
    case notADestination
    /// A packet from the TUN device whose source is not our tunnel address, or whose destination is.
    case notOurAddress
    /// A packet to a DNS sentinel that stands for no upstream, or one the stub could not read.
    case unknownSentinel
    /// No resource covers the destination (connlib's `UnroutablePacket::unknown_resource`): dropped without ICMP.
    case unknownResource
    /// The resource's filters deny it; an ICMP administratively prohibited went back into the TUN device.
    case filtered
    /// A query to recurse through the tunnel whose upstream's resource denies UDP to its port: the application got
    /// SERVFAIL, and no flow was asked for.
    case dnsUpstreamFiltered
    /// A query to recurse through the tunnel whose upstream no resource routes: the application got SERVFAIL.
    case dnsUpstreamUnrouted
    /// The resource's flow buffer was full (``ClientConstants/flowBufferCapacity``); the oldest packet went.
    case flowBufferFull
    /// Exactly this packet is already waiting for the resource's flow.
    case duplicate
    /// The flow failed or the connection went away before the packet could be sent.
    case flowFailed
    /// A datagram snownet refused (not ours, failed decryption, replay, ...).
    case network
    /// A decrypted packet that does not parse as IP.
    case malformed
    /// A packet from a gateway whose source is neither the gateway nor an address of a resource routed via it.
    case spoofedSource
    /// A peer-to-peer control message that does not parse or is not for the client.
    case invalidControlMessage
    /// The state is shutting down.
    case shuttingDown
    /// A portal event about an unknown resource or gateway.
    case unknownPortalReference

    public var description: String {
        switch self {
        case .multicast: "multicast"
        case .notADestination: "not a destination"
        case .notOurAddress: "not our address"
        case .unknownSentinel: "unknown DNS sentinel"
        case .unknownResource: "no resource"
        case .filtered: "filtered"
        case .dnsUpstreamFiltered: "DNS upstream filtered"
        case .dnsUpstreamUnrouted: "DNS upstream without resource"
        case .flowBufferFull: "flow buffer full"
        case .duplicate: "duplicate"
        case .flowFailed: "flow failed"
        case .network: "network"
        case .malformed: "malformed"
        case .spoofedSource: "spoofed source"
        case .invalidControlMessage: "invalid control message"
        case .shuttingDown: "shutting down"
        case .unknownPortalReference: "unknown portal reference"
        }
    }
}

/// The client state's counters, for the shell to publish.
public struct ClientStats: Hashable, Sendable {
    private var drops = [UInt64](repeating: 0, count: ClientDropReason.allCases.count)
    /// `create_flow` messages sent.
    public var flowsRequested: UInt64 = 0

    public init() {}

    public subscript(reason: ClientDropReason) -> UInt64 {
        self.drops[Self.index(of: reason)]
    }

    mutating func count(_ reason: ClientDropReason) {
        self.drops[Self.index(of: reason)] += 1
    }

    private static func index(of reason: ClientDropReason) -> Int {
        ClientDropReason.allCases.firstIndex(of: reason)!
    }
}
