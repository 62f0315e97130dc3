// swift-tools-version: 6.1
//
// The Firezone data plane in Swift. Each top-level folder holds the targets of one component
// (`<folder>/Sources/<Target>`, `<folder>/Tests/<Target>Tests`); ARCHITECTURE.md says which may import which.
// Benchmarks (`tests/benchmarks`) and fuzz targets (`tests/fuzz`) are separate packages so that their
// dependencies and compiler flags never reach the product build.

import PackageDescription

let package = Package(
    name: "firezone",
    products: [
        .library(name: "IPPacket", targets: ["IPPacket"]),
        .library(name: "FirezoneTesting", targets: ["FirezoneTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2")
    ],
    targets: [
        // MARK: System libraries

        .systemLibrary(
            name: "CSodium",
            path: "snownet/Sources/CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            path: "snownet/Sources/COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibBPF",
            path: "ebpf/Sources/CLibBPF",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev"])]
        ),

        // MARK: ip-packet

        .target(
            name: "IPPacket",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            path: "ip-packet/Sources/IPPacket"
        ),
        .testTarget(
            name: "IPPacketTests",
            dependencies: ["IPPacket", "FirezoneTesting"],
            path: "ip-packet/Tests/IPPacketTests"
        ),
        // Needs root: builds packets, hands them to the Linux kernel through a TUN device in a private network
        // namespace, and parses what the kernel answers.
        .testTarget(
            name: "IPPacketKernelTests",
            dependencies: ["IPPacket", "FirezoneTesting", "CNetworkTestSupport"],
            path: "ip-packet/Tests/IPPacketKernelTests"
        ),

        // MARK: tests

        .target(
            name: "FirezoneTesting",
            path: "tests/Sources/FirezoneTesting"
        ),
        .target(
            name: "CNetworkTestSupport",
            path: "tests/Sources/CNetworkTestSupport"
        ),
        .testTarget(
            name: "SystemLibrariesTests",
            dependencies: ["CSodium", "COpenSSL", "CLibBPF"],
            path: "tests/Tests/SystemLibrariesTests"
        ),
    ]
)
