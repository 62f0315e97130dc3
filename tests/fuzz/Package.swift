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
        // libFuzzer's `LLVMFuzzerRunDriver`, for the fuzz targets' `main.swift`.
        .target(name: "CLibFuzzer"),

        // `run.sh ip-packet`
        .executableTarget(
            name: "IPPacketFuzzer",
            dependencies: [
                "CLibFuzzer",
                .product(name: "IPPacket", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // `run.sh wireguard`
        .executableTarget(
            name: "WireGuardFuzzer",
            dependencies: [
                "CLibFuzzer",
                .product(name: "WireGuard", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
