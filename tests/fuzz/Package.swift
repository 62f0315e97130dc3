// swift-tools-version: 6.1
//
// libFuzzer targets for the Firezone data plane: one executable per fuzz target, each with a `main.swift` that
// hands over to libFuzzer and an `LLVMFuzzerTestOneInput`. A separate package, so that fuzzing flags never reach
// the product build. Build and run them with `run.sh` (see README.md), which builds with
// `swift build -c release -Xswiftc -sanitize=fuzzer,address`.

import PackageDescription

let package = Package(
    name: "firezone-fuzz",
    dependencies: [
        // The root package's identity is its folder's name, which differs between checkouts; the name makes
        // `package: "firezone"` below work wherever the repository is cloned.
        .package(name: "firezone", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // libFuzzer's `LLVMFuzzerRunDriver`.
        .target(name: "CLibFuzzer"),
        // The entry point that hands over to libFuzzer, and `check` for the targets' invariants.
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"]),

        // `run.sh ip-packet`
        .executableTarget(
            name: "IPPacketFuzzer",
            dependencies: [
                "FuzzSupport",
                .product(name: "IPPacket", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // `run.sh stun`
        .executableTarget(
            name: "STUNFuzzer",
            dependencies: [
                "FuzzSupport",
                .product(name: "STUN", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // `run.sh relay-server`
        .executableTarget(
            name: "RelayServerFuzzer",
            dependencies: [
                "FuzzSupport",
                .product(name: "RelayCore", package: "firezone"),
                .product(name: "STUN", package: "firezone"),
                .product(name: "IPPacket", package: "firezone"),
                .product(name: "FirezoneTime", package: "firezone"),
                .product(name: "FirezoneTesting", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // `run.sh portal-messages`
        .executableTarget(
            name: "PortalMessagesFuzzer",
            dependencies: [
                "FuzzSupport",
                .product(name: "PortalMessages", package: "firezone"),
            ]
        ),

        // `run.sh wireguard`
        .executableTarget(
            name: "SnownetFuzzer",
            dependencies: [
                "FuzzSupport",
                .product(name: "Snownet", package: "firezone"),
                .product(name: "ICE", package: "firezone"),
                .product(name: "SimulatedRelay", package: "firezone"),
                .product(name: "FirezoneTesting", package: "firezone"),
                .product(name: "STUN", package: "firezone"),
                .product(name: "WireGuard", package: "firezone"),
                .product(name: "IPPacket", package: "firezone"),
                .product(name: "FirezoneTime", package: "firezone"),
                .product(name: "FirezoneCrypto", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // `run.sh gateway-policy`
        .executableTarget(
            name: "GatewayPolicyFuzzer",
            dependencies: [
                "FuzzSupport",
                .product(name: "ConnlibCore", package: "firezone"),
                .product(name: "PortalMessages", package: "firezone"),
                .product(name: "IPPacket", package: "firezone"),
                .product(name: "FirezoneTime", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // `run.sh dns-message`
        .executableTarget(
            name: "DNSMessageFuzzer",
            dependencies: [
                "FuzzSupport",
                .product(name: "ConnlibCore", package: "firezone"),
                .product(name: "IPPacket", package: "firezone"),
                .product(name: "PortalMessages", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // `run.sh dns-tcp-server`
        .executableTarget(
            name: "DNSTCPServerFuzzer",
            dependencies: [
                "FuzzSupport",
                .product(name: "ConnlibCore", package: "firezone"),
                .product(name: "IPPacket", package: "firezone"),
                .product(name: "FirezoneTime", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        .executableTarget(
            name: "WireGuardFuzzer",
            dependencies: [
                "FuzzSupport",
                .product(name: "WireGuard", package: "firezone"),
                .product(name: "FirezoneCrypto", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
