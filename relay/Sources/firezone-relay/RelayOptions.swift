import FirezoneCrypto
import FirezoneOptions
import IPPacket
import Relay
import RelayCore
import RelayXDP

/// The relay's options (Firezone's relay CLI, rust/relay/server/src/main.rs) read through ``OptionReader``: flag, then variable, then default.
struct RelayOptions {
    /// The secret a relay without a static one mints at start (Firezone's rust/relay/server/src/auth.rs), and the least a static one holds.
    static let authSecretBytes = 32
    /// The tracing target whose `RUST_LOG` directives apply to the relay (Firezone's crate `firezone-relay`).
    static let logTargets = ["firezone_relay"]

    var configuration: RelayConfiguration
    /// The static secret when one was given; nil when the relay minted its own.
    var staticAuthSecret: Secret?
    /// Combinations of options that work but cost something, for the log.
    var warnings: [String] = []

    static let publicIPv4 = OptionKey("public IPv4 address", flag: "--public-ip4-addr", variable: "PUBLIC_IP4_ADDR")
    static let publicIPv6 = OptionKey("public IPv6 address", flag: "--public-ip6-addr", variable: "PUBLIC_IP6_ADDR")
    static let bindIPv4 = OptionKey("bind IPv4 address", flag: "--bind-ip4-addr", variable: "BIND_IP4_ADDR")
    static let bindIPv6 = OptionKey("bind IPv6 address", flag: "--bind-ip6-addr", variable: "BIND_IP6_ADDR")
    static let listenPort = OptionKey("listen port", flag: "--listen-port", variable: "LISTEN_PORT")
    static let lowestPort = OptionKey("lowest port", flag: "--lowest-port", variable: "LOWEST_PORT")
    static let highestPort = OptionKey("highest port", flag: "--highest-port", variable: "HIGHEST_PORT")
    static let healthCheckAddress = OptionKey(
        "health check address",
        flag: "--health-check-addr",
        variable: "HEALTH_CHECK_ADDR"
    )
    static let ebpfOffloading = OptionKey("XDP interface", flag: "--ebpf-offloading", variable: "EBPF_OFFLOADING")
    static let ebpfAttachMode = OptionKey("XDP attach mode", flag: "--ebpf-attach-mode", variable: "EBPF_ATTACH_MODE")
    static let ebpfInterfaceIPv4 = OptionKey(
        "XDP interface IPv4 address",
        flag: "--ebpf-int4-addr",
        variable: "EBPF_INT4_ADDR"
    )
    static let ebpfInterfaceIPv6 = OptionKey(
        "XDP interface IPv6 address",
        flag: "--ebpf-int6-addr",
        variable: "EBPF_INT6_ADDR"
    )
    static let ebpfBindingCapacity = OptionKey(
        "XDP binding capacity",
        flag: "--ebpf-binding-capacity",
        variable: "EBPF_BINDING_CAPACITY"
    )
    static let deniedPeerRanges = OptionKey(
        "denied peer range",
        flag: "--denied-peer-ip",
        variable: "DENIED_PEER_IPS"
    )
    static let allocationsPerUsername = OptionKey(
        "allocations per username",
        flag: "--max-allocations-per-username",
        variable: "FIREZONE_RELAY_MAX_ALLOCATIONS_PER_USERNAME"
    )
    static let channelsPerAllocation = OptionKey(
        "channels per allocation",
        flag: "--max-channels-per-allocation",
        variable: "FIREZONE_RELAY_MAX_CHANNELS_PER_ALLOCATION"
    )
    static let channelBindings = OptionKey(
        "relay-wide channel bindings",
        flag: "--max-channel-bindings",
        variable: "FIREZONE_RELAY_MAX_CHANNEL_BINDINGS"
    )
    /// The most any count option takes: far above what a host holds, and within every platform's `Int`.
    static let countRange = 1...Int(Int32.max)

    /// `joinsPortal`: whether a portal token was given, which makes a username one client (``RelayServer``'s
    /// `.portal` mode).
    init(_ run: Run, reader: OptionReader, joinsPortal: Bool) throws(OptionError) {
        let publicIPv4 = try reader.value(Self.publicIPv4, flag: run.publicIPv4, expected: "an IPv4 address") {
            IPv4Address($0)
        }
        let publicIPv6 = try reader.value(Self.publicIPv6, flag: run.publicIPv6, expected: "an IPv6 address") {
            IPv6Address($0)
        }
        guard publicIPv4 != nil || publicIPv6 != nil else {
            throw OptionError("a public address is required: \(Self.publicIPv4) or \(Self.publicIPv6)")
        }
        let bindIPv4 =
            try reader.value(Self.bindIPv4, flag: run.bindIPv4, expected: "an IPv4 address") { IPv4Address($0) }
            ?? .any
        let bindIPv6 =
            try reader.value(Self.bindIPv6, flag: run.bindIPv6, expected: "an IPv6 address") { IPv6Address($0) }
            ?? .unspecified
        let listenPort = try reader.port(Self.listenPort, flag: run.listenPort) ?? RelayConstants.defaultListenPort
        let lowest =
            try reader.port(Self.lowestPort, flag: run.lowestPort) ?? RelayConstants.defaultAllocationPorts.lowerBound
        let highest =
            try reader.port(Self.highestPort, flag: run.highestPort) ?? RelayConstants.defaultAllocationPorts.upperBound
        guard lowest <= highest else {
            throw OptionError("the lowest port (\(lowest)) is above the highest port (\(highest))")
        }
        guard !(lowest...highest).contains(listenPort) else {
            throw OptionError("the listen port \(listenPort) lies inside the allocation ports \(lowest)-\(highest)")
        }
        let health =
            try reader.value(Self.healthCheckAddress, flag: run.healthCheckAddress, expected: "an address:port") {
                IPSocketAddress($0)
            } ?? IPSocketAddress(.v4(.any), port: 8080)
        let secret = try reader.secret(
            .relayAuthSecret,
            flag: run.authSecret,
            fileFlag: run.authSecretFile,
            minimumBytes: Self.authSecretBytes
        )

        func count(_ key: OptionKey, flag: String?) throws(OptionError) -> Int? {
            try reader.integer(key, flag: flag, in: Self.countRange)
        }
        var limits = RelayLimits()
        if let value = try count(Self.allocationsPerUsername, flag: run.allocationsPerUsername) {
            limits.allocationsPerUsername = value
        }
        if let value = try count(Self.channelsPerAllocation, flag: run.channelsPerAllocation) {
            limits.channelBindingsPerAllocation = value
        }
        if let value = try count(Self.channelBindings, flag: run.channelBindings) {
            limits.channelBindings = value
        }
        let deniedPeerRanges = try reader.values(
            Self.deniedPeerRanges,
            flags: run.deniedPeerRanges,
            expected: "a network in CIDR notation such as 10.0.0.0/8 or fd00::/8"
        ) { try IPNetwork(parsing: $0) }

        var xdp: XDPOffloadConfiguration?
        let bindingCapacity = try reader.integer(
            Self.ebpfBindingCapacity,
            flag: run.ebpfBindingCapacity,
            in: 1...Int(UInt32.max)
        )
        let mode = try reader.value(Self.ebpfAttachMode, flag: run.ebpfAttachMode, expected: "driver or generic") {
            XDPAttachMode(rawValue: $0)
        }
        if let interface = reader.text(Self.ebpfOffloading, flag: run.ebpfOffloading) {
            let interfaceIPv4 = try reader.value(
                Self.ebpfInterfaceIPv4,
                flag: run.ebpfInterfaceIPv4,
                expected: "an IPv4 address"
            ) { IPv4Address($0) }
            let interfaceIPv6 = try reader.value(
                Self.ebpfInterfaceIPv6,
                flag: run.ebpfInterfaceIPv6,
                expected: "an IPv6 address"
            ) { IPv6Address($0) }
            xdp = XDPOffloadConfiguration(
                interface: interface,
                mode: mode ?? .driver,
                interfaceIPv4: interfaceIPv4,
                interfaceIPv6: interfaceIPv6,
                bindingCapacity: bindingCapacity
            )
            let capacity = bindingCapacity ?? XDPConfiguration.defaultBindingCapacity
            if limits.channelBindings > capacity {
                self.warnings.append(
                    "The relay-wide channel binding limit (\(limits.channelBindings), \(Self.channelBindings)) exceeds "
                        + "the XDP maps' capacity (\(capacity), \(Self.ebpfBindingCapacity)): bindings past it are "
                        + "relayed by userspace"
                )
            }
        }

        let revision = String((reader.variable("GIT_SHA") ?? "xxxxxxxx").prefix(8))
        self.staticAuthSecret = secret
        self.configuration = RelayConfiguration(
            publicIPv4: publicIPv4,
            publicIPv6: publicIPv6,
            bindIPv4: bindIPv4,
            bindIPv6: bindIPv6,
            listenPort: listenPort,
            allocationPorts: lowest...highest,
            healthCheckAddress: health,
            authSecret: secret?.exposedValue ?? Self.randomHex(bytes: Self.authSecretBytes),
            // The first eight characters of the build's git revision, as Firezone's SOFTWARE attribute carries.
            software: "firezone-relay; rev=\(revision)",
            xdp: xdp,
            mode: joinsPortal ? .portal : .standalone,
            limits: limits,
            deniedPeerRanges: deniedPeerRanges
        )
    }

    /// Hex of `bytes` bytes from the system's secure random source.
    static func randomHex(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}
