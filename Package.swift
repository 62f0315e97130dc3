// swift-tools-version: 6.1
//
// The Firezone data plane in Swift. Each top-level folder holds the targets of one component
// (`<folder>/Sources/<Target>`, `<folder>/Tests/<Target>Tests`); docs/architecture.md says which may import which.
// Benchmarks (`tests/benchmarks`) and fuzz targets (`tests/fuzz`) are separate packages so that their
// dependencies and compiler flags never reach the product build.

import PackageDescription

/// The generic hot path (`WireGuardRouter`, snownet's `Node`) specialized in the modules that use it: with
/// `-cross-module-optimization` a library's bodies are serialized into its module, so a caller's release build
/// specializes `Node<ConnectionID, RelayID>` for its own ID types instead of running it through witness tables and
/// runtime metadata (docs/benchmarks.md, "snownet: the Node"). SwiftPM passes unsafe flags of a root package and of
/// packages depended on by path (the benchmark and fuzz packages use this one by path).
let specializedAcrossModules: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))
]

let package = Package(
    name: "firezone",
    products: [
        .library(name: "IPPacket", targets: ["IPPacket"]),
        .library(name: "FirezoneTime", targets: ["FirezoneTime"]),
        .library(name: "FirezoneCrypto", targets: ["FirezoneCrypto"]),
        .library(name: "FirezoneTesting", targets: ["FirezoneTesting"]),
        // Our RelayServer on a simulated host, for the benchmarks of snownet's Node (tests/benchmarks).
        .library(name: "SimulatedRelay", targets: ["SimulatedRelay"]),
        // connlib's client and gateway states on simulated hosts and the portal that brokers their flows, for
        // connlib's reference model and the benchmarks' connected tunnel.
        .library(name: "SimulatedConnlib", targets: ["SimulatedConnlib"]),
        .library(name: "STUN", targets: ["STUN"]),
        .library(name: "WireGuard", targets: ["WireGuard"]),
        .library(name: "ICE", targets: ["ICE"]),
        .library(name: "TURNClient", targets: ["TURNClient"]),
        .library(name: "Snownet", targets: ["Snownet"]),
        .executable(name: "wireguard-peer", targets: ["wireguard-peer"]),
        .library(name: "RelayCore", targets: ["RelayCore"]),
        .library(name: "RelayXDP", targets: ["RelayXDP"]),
        .executable(name: "firezone-relay", targets: ["firezone-relay"]),
        .executable(name: "firezone-headless-client", targets: ["firezone-headless-client"]),
        .executable(name: "firezone-portal", targets: ["firezone-portal"]),
        .executable(name: "firezone-gateway", targets: ["firezone-gateway"]),
        .library(name: "PortalMessages", targets: ["PortalMessages"]),
        .library(name: "PhoenixChannel", targets: ["PhoenixChannel"]),
        .library(name: "ConnlibCore", targets: ["ConnlibCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // MARK: System libraries

        .systemLibrary(
            name: "CSodium",
            path: "platform/Sources/CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            path: "platform/Sources/COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibBPF",
            path: "ebpf/Sources/CLibBPF",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev"])]
        ),

        // MARK: platform

        // The bottom layer every component stands on; it imports nothing of ours but IPPacket's addresses.
        .target(
            name: "FirezoneTime",
            path: "platform/Sources/FirezoneTime"
        ),
        .testTarget(
            name: "FirezoneTimeTests",
            dependencies: ["FirezoneTime"],
            path: "platform/Tests/FirezoneTimeTests"
        ),
        // SHA-256, HMAC, MD5, CRC32, base64 and hex, and the fixed-size key family.
        .target(
            name: "FirezoneCrypto",
            dependencies: ["COpenSSL", "CSodium"],
            path: "platform/Sources/FirezoneCrypto"
        ),
        .testTarget(
            name: "FirezoneCryptoTests",
            dependencies: ["FirezoneCrypto"],
            path: "platform/Tests/FirezoneCryptoTests"
        ),
        // The Linux calls Swift's Glibc module does not import: batched UDP with GSO/GRO, TUN with offloads, epoll,
        // eventfd and signalfd.
        .target(
            name: "CLinuxIO",
            path: "platform/Sources/CLinuxIO"
        ),
        .target(
            name: "LinuxIO",
            dependencies: ["CLinuxIO", "IPPacket", "FirezoneTime", .product(name: "NIOCore", package: "swift-nio")],
            path: "platform/Sources/LinuxIO"
        ),
        // Real loopback sockets: batched sends and receives, UDP GSO coalescing and GRO splitting.
        .testTarget(
            name: "LinuxIOTests",
            dependencies: ["LinuxIO", "IPPacket", "FirezoneTime", .product(name: "NIOCore", package: "swift-nio")],
            path: "platform/Tests/LinuxIOTests"
        ),

        // What every executable reads at start: a flag or its environment variable, typed with errors that name
        // both, durations, `RUST_LOG` directives, the portal options and secrets from files.
        .target(
            name: "FirezoneOptions",
            dependencies: ["FirezoneCrypto", .product(name: "Logging", package: "swift-log")],
            path: "platform/Sources/FirezoneOptions"
        ),
        .testTarget(
            name: "FirezoneOptionsTests",
            dependencies: ["FirezoneOptions", .product(name: "Logging", package: "swift-log")],
            path: "platform/Tests/FirezoneOptionsTests"
        ),

        // What every executable's entry point shares: the error that ends it printed without a backtrace with its
        // exit status, the logger (`RUST_LOG`'s level, `LOG_DIR`), the host's name.
        .target(
            name: "FirezoneCommand",
            dependencies: [
                "FirezoneOptions",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "platform/Sources/FirezoneCommand"
        ),
        .testTarget(
            name: "FirezoneCommandTests",
            dependencies: [
                "FirezoneCommand", "FirezoneOptions",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "platform/Tests/FirezoneCommandTests"
        ),

        // `/healthz`, `/readyz` and Prometheus `/metrics` over HTTP, shared by every component's executable.
        .target(
            name: "FirezoneHealth",
            dependencies: [
                "IPPacket",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "platform/Sources/FirezoneHealth"
        ),
        .testTarget(
            name: "FirezoneHealthTests",
            dependencies: [
                "FirezoneHealth", "IPPacket",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "platform/Tests/FirezoneHealthTests"
        ),

        // MARK: ebpf

        // The map layouts and reasons shared by the XDP program (ebpf/xdp, C) and firezone-relay.
        .systemLibrary(
            name: "CRelayXDP",
            path: "ebpf/Sources/CRelayXDP"
        ),
        // Compiles ebpf/xdp with clang -target bpf and embeds the object in RelayXDP.
        .plugin(
            name: "RelayXDPCompiler",
            capability: .buildTool(),
            path: "ebpf/Plugins/RelayXDPCompiler"
        ),
        .target(
            name: "RelayXDP",
            dependencies: ["CLibBPF", "CRelayXDP", "RelayCore", "STUN", "IPPacket", "LinuxIO"],
            path: "ebpf/Sources/RelayXDP",
            plugins: ["RelayXDPCompiler"]
        ),
        // Needs root: runs the XDP program in the kernel with BPF_PROG_TEST_RUN.
        .testTarget(
            name: "RelayXDPTests",
            dependencies: [
                "RelayXDP", "CRelayXDP", "RelayCore", "STUN", "IPPacket", "LinuxIO", "FirezoneTesting",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "ebpf/Tests/RelayXDPTests"
        ),

        // MARK: ip-packet

        .target(
            name: "IPPacket",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            path: "ip-packet/Sources/IPPacket"
        ),
        .testTarget(
            name: "IPPacketTests",
            dependencies: ["IPPacket", "FirezoneTesting", .product(name: "NIOCore", package: "swift-nio")],
            path: "ip-packet/Tests/IPPacketTests"
        ),
        // Needs root: builds packets, hands them to the Linux kernel through a TUN device in a private network
        // namespace, and parses what the kernel answers.
        .testTarget(
            name: "IPPacketKernelTests",
            dependencies: [
                "IPPacket", "FirezoneTesting", "CNetworkTestSupport", .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "ip-packet/Tests/IPPacketKernelTests"
        ),

        // MARK: snownet

        .target(
            name: "STUN",
            dependencies: ["IPPacket", "FirezoneCrypto", .product(name: "NIOCore", package: "swift-nio")],
            path: "snownet/Sources/STUN",
            swiftSettings: specializedAcrossModules
        ),
        .testTarget(
            name: "STUNTests",
            dependencies: [
                "STUN", "FirezoneCrypto", "FirezoneTesting", "IPPacket",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "snownet/Tests/STUNTests"
        ),
        .target(
            name: "WireGuard",
            dependencies: [
                "CSodium", "COpenSSL", "FirezoneTime", "FirezoneCrypto", "IPPacket",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "snownet/Sources/WireGuard",
            swiftSettings: specializedAcrossModules
        ),
        .testTarget(
            name: "WireGuardTests",
            dependencies: [
                "WireGuard", "FirezoneTime", "FirezoneCrypto", "FirezoneTesting",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "snownet/Tests/WireGuardTests",
            exclude: ["Vectors"]
        ),
        .target(
            name: "ICE",
            dependencies: [
                "STUN", "IPPacket", "FirezoneTime", "FirezoneCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "snownet/Sources/ICE"
        ),
        .testTarget(
            name: "ICETests",
            dependencies: [
                "ICE", "STUN", "IPPacket", "FirezoneTime", "FirezoneTesting",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "snownet/Tests/ICETests"
        ),
        .target(
            name: "TURNClient",
            dependencies: [
                "STUN", "IPPacket", "FirezoneTime", "FirezoneCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "snownet/Sources/TURNClient",
            swiftSettings: specializedAcrossModules
        ),
        .testTarget(
            name: "TURNClientTests",
            dependencies: [
                "TURNClient", "STUN", "IPPacket", "FirezoneTime", "FirezoneTesting", "SimulatedRelay", "RelayCore",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "snownet/Tests/TURNClientTests"
        ),
        .target(
            name: "Snownet",
            dependencies: [
                "ICE", "TURNClient", "WireGuard", "STUN", "IPPacket", "FirezoneTime", "FirezoneCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "snownet/Sources/Snownet",
            swiftSettings: specializedAcrossModules
        ),
        .testTarget(
            name: "SnownetTests",
            dependencies: [
                "Snownet", "ICE", "TURNClient", "WireGuard", "STUN", "IPPacket", "FirezoneTime", "FirezoneCrypto",
                "FirezoneTesting", "SimulatedRelay",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            path: "snownet/Tests/SnownetTests"
        ),
        // MARK: relay

        .target(
            name: "RelayCore",
            dependencies: [
                "STUN", "IPPacket", "FirezoneTime", "FirezoneCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "relay/Sources/RelayCore"
        ),
        .target(
            name: "Relay",
            dependencies: [
                "RelayCore", "RelayXDP", "LinuxIO", "IPPacket", "FirezoneTime", "STUN",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            path: "relay/Sources/Relay"
        ),
        .executableTarget(
            name: "firezone-relay",
            dependencies: [
                "Relay", "RelayCore", "RelayXDP", "LinuxIO", "IPPacket", "FirezoneCrypto", "FirezoneOptions",
                "FirezoneCommand", "FirezoneHealth", "PhoenixChannel", "PhoenixCore", "PortalMessages",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "relay/Sources/firezone-relay"
        ),
        .testTarget(
            name: "RelayCoreTests",
            dependencies: [
                "RelayCore", "STUN", "IPPacket", "FirezoneTime", "FirezoneTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "relay/Tests/RelayCoreTests",
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "RelayTests",
            dependencies: [
                "STUN",
                "Relay", "RelayCore", "RelayXDP", "CRelayXDP", "IPPacket", "LinuxIO", "FirezoneTesting",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "relay/Tests/RelayTests"
        ),

        // MARK: phoenix-channel

        .target(
            name: "PortalMessages",
            dependencies: ["IPPacket", "FirezoneCrypto"],
            path: "phoenix-channel/Sources/PortalMessages"
        ),
        .target(
            name: "PhoenixCore",
            dependencies: [
                "PortalMessages", "FirezoneTime", "FirezoneCrypto",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "phoenix-channel/Sources/PhoenixCore"
        ),
        .target(
            name: "PhoenixChannel",
            dependencies: [
                "PhoenixCore", "PortalMessages", "FirezoneTime", "LinuxIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "phoenix-channel/Sources/PhoenixChannel"
        ),
        .testTarget(
            name: "PhoenixCoreTests",
            dependencies: [
                "PhoenixCore", "PortalMessages", "FirezoneTime", "FirezoneCrypto", "FirezoneTesting",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "phoenix-channel/Tests/PhoenixCoreTests"
        ),
        // PhoenixChannel over real sockets, against the local portal (PortalTestSupport) and hand-made servers.
        .testTarget(
            name: "PhoenixChannelTests",
            dependencies: [
                "PhoenixChannel", "PhoenixCore", "PortalMessages", "PortalServer", "PortalTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "phoenix-channel/Tests/PhoenixChannelTests"
        ),
        .testTarget(
            name: "PortalMessagesTests",
            dependencies: ["PortalMessages", "IPPacket", "FirezoneCrypto"],
            path: "phoenix-channel/Tests/PortalMessagesTests",
            exclude: ["Fixtures"]
        ),

        // MARK: connlib

        .target(
            name: "ConnlibCore",
            dependencies: [
                "Snownet", "ICE", "TURNClient", "STUN", "WireGuard", "IPPacket", "PortalMessages", "FirezoneTime",
                "FirezoneCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "connlib/Sources/ConnlibCore"
        ),
        .testTarget(
            name: "ConnlibCoreTests",
            dependencies: [
                "ConnlibCore", "Snownet", "ICE", "TURNClient", "STUN", "WireGuard", "IPPacket", "PortalMessages",
                "FirezoneTime", "FirezoneCrypto", "FirezoneTesting", "SimulatedRelay", "SimulatedConnlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            path: "connlib/Tests/ConnlibCoreTests"
        ),
        // The tunnel's IO shell: the event loop and the Linux integration (rtnetlink routes and rules, DNS control,
        // nftables on the gateway, network-change monitoring).
        .target(
            name: "Connlib",
            dependencies: [
                "ConnlibCore", "PortalMessages", "LinuxIO", "CLinuxIO", "IPPacket", "FirezoneTime",
                "Snownet", "WireGuard", "FirezoneCrypto", "FirezoneOptions", "FirezoneCommand", "PhoenixChannel",
                "PhoenixCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "connlib/Sources/Connlib"
        ),
        // The gateway: options, the host's network (TUN device, forwarding, masquerade) and the services.
        .executableTarget(
            name: "firezone-gateway",
            dependencies: [
                "Connlib", "ConnlibCore", "FirezoneCommand", "FirezoneHealth", "FirezoneOptions", "FirezoneCrypto",
                "IPPacket", "LinuxIO", "PhoenixChannel", "PhoenixCore", "PortalMessages", "WireGuard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "gateway/Sources/firezone-gateway"
        ),
        // Privileged tests run in network namespaces they create (FirezoneTesting's PrivilegedTests pattern).
        .testTarget(
            name: "ConnlibTests",
            dependencies: [
                "Connlib", "ConnlibCore", "LinuxIO", "CLinuxIO", "IPPacket", "FirezoneTime", "FirezoneTesting",
                "FirezoneOptions", "PhoenixChannel", "PhoenixCore", "PortalMessages", "PortalTestSupport",
                "CNetworkTestSupport", "WireGuard", "FirezoneCrypto", "Snownet", "FirezoneCommand",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            path: "connlib/Tests/ConnlibTests"
        ),

        // MARK: headless-client

        // The headless client's shell: connlib's ClientState on the host's TUN device, sockets and resolvers.
        .target(
            name: "HeadlessClient",
            dependencies: [
                "Connlib", "ConnlibCore", "Snownet", "WireGuard", "PhoenixCore", "PortalMessages", "LinuxIO",
                "IPPacket", "FirezoneTime", "FirezoneCrypto", "FirezoneOptions",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "headless-client/Sources/HeadlessClient"
        ),
        .executableTarget(
            name: "firezone-headless-client",
            dependencies: [
                "HeadlessClient", "Connlib", "ConnlibCore", "LinuxIO", "IPPacket", "FirezoneCrypto", "FirezoneOptions",
                "FirezoneCommand", "PhoenixChannel", "PhoenixCore", "PortalMessages", "WireGuard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "headless-client/Sources/firezone-headless-client"
        ),
        .testTarget(
            name: "HeadlessClientTests",
            dependencies: [
                "HeadlessClient", "Connlib", "ConnlibCore", "LinuxIO", "IPPacket", "FirezoneTime", "FirezoneOptions",
                "FirezoneTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "headless-client/Tests/HeadlessClientTests"
        ),

        // MARK: tests

        .target(
            name: "FirezoneTesting",
            dependencies: [
                "FirezoneTime", "FirezoneCrypto", "IPPacket",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "tests/Sources/FirezoneTesting"
        ),
        // Our RelayServer on a simulated host, for the tests of TURN clients and of snownet's Node.
        .target(
            name: "SimulatedRelay",
            dependencies: [
                "FirezoneTesting", "RelayCore", "STUN", "IPPacket", "FirezoneTime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "tests/Sources/SimulatedRelay"
        ),
        .target(
            name: "SimulatedConnlib",
            dependencies: [
                "FirezoneTesting", "ConnlibCore", "Snownet", "PortalMessages", "IPPacket", "FirezoneTime",
                "FirezoneCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "tests/Sources/SimulatedConnlib"
        ),
        .testTarget(
            name: "FirezoneTestingTests",
            dependencies: [
                "FirezoneTesting", "FirezoneTime", "FirezoneCrypto", "IPPacket", "WireGuard", "RelayCore", "STUN",
                "SimulatedRelay",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "tests/Tests/FirezoneTestingTests"
        ),
        // The TURN load generator of tests/perf/relay.sh.
        .executableTarget(
            name: "relay-load",
            dependencies: [
                "STUN", "RelayCore", "IPPacket", "LinuxIO", "FirezoneCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "tests/Sources/relay-load"
        ),
        // Our ICE agent on a UDP socket, for tests/integration/ice-aioice.sh.
        .executableTarget(
            name: "ice-interop",
            dependencies: [
                "ICE", "STUN", "IPPacket", "FirezoneTime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "tests/Sources/ice-interop"
        ),
        // The userspace WireGuard device behind `wireguard-peer`: TUN, batched UDP, one thread.
        .target(
            name: "WireGuardPeer",
            dependencies: [
                "WireGuard", "LinuxIO", "IPPacket", "FirezoneTime", "FirezoneCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "tests/Sources/WireGuardPeer"
        ),
        .executableTarget(
            name: "wireguard-peer",
            dependencies: [
                "WireGuardPeer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "tests/Sources/wireguard-peer"
        ),
        .testTarget(
            name: "WireGuardPeerTests",
            dependencies: [
                "WireGuardPeer", "WireGuard", "IPPacket", "LinuxIO", "FirezoneCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "tests/Tests/WireGuardPeerTests"
        ),
        .target(
            name: "CNetworkTestSupport",
            path: "tests/Sources/CNetworkTestSupport"
        ),
        // A portal for local runs (`firezone-portal`) and the tests that drive our portal code against it.
        .target(
            name: "PortalServer",
            dependencies: [
                "PortalMessages", "IPPacket", "RelayCore", "STUN", "COpenSSL", "FirezoneCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "tests/portal/Sources/PortalServer"
        ),
        .executableTarget(
            name: "firezone-portal",
            dependencies: [
                "PortalServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "tests/portal/Sources/firezone-portal"
        ),
        // The local portal in this process, its admin API, and PhoenixChannel helpers to talk to it.
        .target(
            name: "PortalTestSupport",
            dependencies: [
                "FirezoneCrypto",
                "PortalServer", "PhoenixChannel", "PhoenixCore", "PortalMessages",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "tests/portal/Sources/PortalTestSupport"
        ),
        .testTarget(
            name: "PortalTests",
            dependencies: [
                "PortalServer", "PortalTestSupport", "PhoenixChannel", "PhoenixCore", "PortalMessages", "IPPacket",
                "RelayCore", "STUN",
                "FirezoneCrypto", "FirezoneTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "tests/portal/Tests/PortalTests"
        ),
        .testTarget(
            name: "SystemLibrariesTests",
            dependencies: ["CSodium", "COpenSSL", "CLibBPF", "FirezoneTesting"],
            path: "tests/Tests/SystemLibrariesTests"
        ),
    ]
)
