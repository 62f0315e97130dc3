import IPPacket
import RelayCore

/// How a relay runs: its addresses and ports, its credential secret (Firezone's relay CLI,
/// rust/relay/server/src/main.rs), and what its core enforces (`docs/relay-security.md`).
public struct RelayConfiguration: Sendable {
    public var publicIPv4: IPv4Address?
    public var publicIPv6: IPv6Address?
    public var bindIPv4: IPv4Address
    public var bindIPv6: IPv6Address
    public var listenPort: UInt16
    public var allocationPorts: ClosedRange<UInt16>
    public var healthCheckAddress: IPSocketAddress
    /// The secret relay credentials are minted from. Never logged.
    public var authSecret: String
    public var software: String
    /// The XDP fast path, when the relay is asked to offload.
    public var xdp: XDPOffloadConfiguration?
    /// `.portal` when the relay joins a portal, which decides what a second ALLOCATE by one username means.
    public var mode: RelayServer<SystemRandomNumberGenerator>.Configuration.Mode
    public var limits: RelayLimits
    /// Peers refused with 403 beyond ``RelayConstants/isNeverPeer(_:)``.
    public var deniedPeerRanges: [IPNetwork]

    public init(
        publicIPv4: IPv4Address?,
        publicIPv6: IPv6Address?,
        bindIPv4: IPv4Address = .any,
        bindIPv6: IPv6Address = .unspecified,
        listenPort: UInt16,
        allocationPorts: ClosedRange<UInt16>,
        healthCheckAddress: IPSocketAddress,
        authSecret: String,
        software: String,
        xdp: XDPOffloadConfiguration? = nil,
        mode: RelayServer<SystemRandomNumberGenerator>.Configuration.Mode = .standalone,
        limits: RelayLimits = RelayLimits(),
        deniedPeerRanges: [IPNetwork] = []
    ) {
        self.publicIPv4 = publicIPv4
        self.publicIPv6 = publicIPv6
        self.bindIPv4 = bindIPv4
        self.bindIPv6 = bindIPv6
        self.listenPort = listenPort
        self.allocationPorts = allocationPorts
        self.healthCheckAddress = healthCheckAddress
        self.authSecret = authSecret
        self.software = software
        self.xdp = xdp
        self.mode = mode
        self.limits = limits
        self.deniedPeerRanges = deniedPeerRanges
    }

    /// The families the relay serves: those with a public address.
    var families: [IPVersion] {
        (self.publicIPv4 != nil ? [.v4] : []) + (self.publicIPv6 != nil ? [.v6] : [])
    }

    func bindAddress(_ family: IPVersion) -> IPAddress {
        family == .v4 ? .v4(self.bindIPv4) : .v6(self.bindIPv6)
    }
}
