import ArgumentParser
import FirezoneCrypto
import LinuxIO
import Glibc
import IPPacket
import Logging
import Relay
import RelayCore
import RelayXDP

/// Flags, then Firezone's environment variables, then defaults; every value validated with a message that
/// names the option.
enum RelayOptions {
    static func resolve(_ run: Run) throws -> RelayConfiguration {
        func value(_ flag: String?, _ variable: String) -> String? {
            if let flag { return flag }
            return getenv(variable).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        func parse<T>(_ text: String?, _ name: String, _ parser: (String) -> T?) throws -> T? {
            guard let text else { return nil }
            guard let parsed = parser(text) else {
                throw ValidationError("invalid \(name): '\(text)'")
            }
            return parsed
        }

        let publicIPv4 = try parse(value(run.publicIPv4, "PUBLIC_IP4_ADDR"), "public IPv4 address (--public-ip4-addr / PUBLIC_IP4_ADDR)") { IPv4Address($0) }
        let publicIPv6 = try parse(value(run.publicIPv6, "PUBLIC_IP6_ADDR"), "public IPv6 address (--public-ip6-addr / PUBLIC_IP6_ADDR)") { IPv6Address($0) }
        guard publicIPv4 != nil || publicIPv6 != nil else {
            throw ValidationError("a public address is required: --public-ip4-addr / PUBLIC_IP4_ADDR or --public-ip6-addr / PUBLIC_IP6_ADDR")
        }
        let bindIPv4 = try parse(value(run.bindIPv4, "BIND_IP4_ADDR"), "bind IPv4 address (--bind-ip4-addr / BIND_IP4_ADDR)") { IPv4Address($0) } ?? .any
        let bindIPv6 = try parse(value(run.bindIPv6, "BIND_IP6_ADDR"), "bind IPv6 address (--bind-ip6-addr / BIND_IP6_ADDR)") { IPv6Address($0) } ?? .unspecified
        let listenPort = try parse(value(run.listenPort, "LISTEN_PORT"), "listen port (--listen-port / LISTEN_PORT)") { UInt16($0).flatMap { $0 == 0 ? nil : $0 } } ?? RelayConstants.defaultListenPort
        let lowest = try parse(value(run.lowestPort, "LOWEST_PORT"), "lowest port (--lowest-port / LOWEST_PORT)") { UInt16($0).flatMap { $0 == 0 ? nil : $0 } } ?? RelayConstants.defaultAllocationPorts.lowerBound
        let highest = try parse(value(run.highestPort, "HIGHEST_PORT"), "highest port (--highest-port / HIGHEST_PORT)") { UInt16($0).flatMap { $0 == 0 ? nil : $0 } } ?? RelayConstants.defaultAllocationPorts.upperBound
        guard lowest <= highest else {
            throw ValidationError("the lowest port (\(lowest)) is above the highest port (\(highest))")
        }
        guard !(lowest...highest).contains(listenPort) else {
            throw ValidationError("the listen port \(listenPort) lies inside the allocation ports \(lowest)-\(highest)")
        }
        let health = try parse(value(run.healthCheckAddress, "HEALTH_CHECK_ADDR"), "health check address (--health-check-addr / HEALTH_CHECK_ADDR)") { IPSocketAddress($0) } ?? IPSocketAddress(.v4(.any), port: 8080)
        let secret = value(run.authSecret, "FIREZONE_RELAY_AUTH_SECRET") ?? Self.randomHex(bytes: 32)
        guard !secret.isEmpty else {
            throw ValidationError("the auth secret must not be empty")
        }

        var xdp: XDPOffloadConfiguration?
        if let interface = value(run.ebpfOffloading, "EBPF_OFFLOADING") {
            let mode = try parse(value(run.ebpfAttachMode, "EBPF_ATTACH_MODE"), "XDP attach mode (--ebpf-attach-mode / EBPF_ATTACH_MODE: driver or generic)") { XDPAttachMode(rawValue: $0) } ?? .driver
            let interfaceIPv4 = try parse(value(run.ebpfInterfaceIPv4, "EBPF_INT4_ADDR"), "XDP interface IPv4 address (--ebpf-int4-addr / EBPF_INT4_ADDR)") { IPv4Address($0) }
            let interfaceIPv6 = try parse(value(run.ebpfInterfaceIPv6, "EBPF_INT6_ADDR"), "XDP interface IPv6 address (--ebpf-int6-addr / EBPF_INT6_ADDR)") { IPv6Address($0) }
            xdp = XDPOffloadConfiguration(interface: interface, mode: mode, interfaceIPv4: interfaceIPv4, interfaceIPv6: interfaceIPv6)
        } else if let mode = value(run.ebpfAttachMode, "EBPF_ATTACH_MODE"), XDPAttachMode(rawValue: mode) == nil {
            throw ValidationError("invalid XDP attach mode (--ebpf-attach-mode / EBPF_ATTACH_MODE: driver or generic): '\(mode)'")
        }

        return RelayConfiguration(
            publicIPv4: publicIPv4,
            publicIPv6: publicIPv6,
            bindIPv4: bindIPv4,
            bindIPv6: bindIPv6,
            listenPort: listenPort,
            allocationPorts: lowest...highest,
            healthCheckAddress: health,
            authSecret: secret,
            software: "firezone-relay; rev=\(Self.revision)",
            xdp: xdp
        )
    }

    /// The first eight characters of the build's git revision, as Firezone's SOFTWARE attribute carries.
    static let revision: String = {
        let text = getenv("GIT_SHA").map { String(cString: $0) } ?? "xxxxxxxx"
        return String(text.prefix(8))
    }()

    /// `RUST_LOG`'s leading level, as Firezone's relay reads it (`info` when unset or unknown).
    static func logLevel() -> Logger.Level {
        let directive = getenv("RUST_LOG").map { String(cString: $0) } ?? "info"
        let level = directive.split(separator: ",").first.map { $0.split(separator: "=").last.map(String.init) ?? "" } ?? ""
        return Logger.Level(rawValue: level.lowercased()) ?? .info
    }

    /// Hex of `bytes` bytes from the system's secure random source.
    static func randomHex(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}
