import IPPacket

/// A resolver the client's stub sends the queries it does not answer itself to.
public struct DNSUpstream: Hashable, Sendable, CustomStringConvertible {
    public var address: IPSocketAddress
    /// Whether the portal configured it (`upstream_dns`); only those may be reached through the tunnel.
    public var fromPortal: Bool

    public init(address: IPSocketAddress, fromPortal: Bool) {
        self.address = address
        self.fromPortal = fromPortal
    }

    public var description: String {
        "\(self.address)\(self.fromPortal ? " (portal)" : "")"
    }
}

/// How an upstream that did not answer failed.
public enum DNSUpstreamFailure: Hashable, Sendable {
    /// No answer in time: the application's resolver retries or times out on its own, so it gets nothing.
    case timedOut
    /// Any other error (unreachable, refused, malformed answer): the application gets SERVFAIL at once.
    case failed
}
