// swift-tools-version: 6.1
//
// Benchmarks of the Firezone data plane, kept out of the root package so that package-benchmark and its
// malloc interposer never reach the product build. `./run.sh` runs them and prints tables (`make bench`);
// `./check-allocations.sh` fails when a hot-path benchmark allocates. Results: docs/benchmarks.md.

import PackageDescription

let package = Package(
    name: "firezone-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        // The root package. A path dependency is otherwise known by its folder's name (which differs
        // between checkouts), so it is named here to match `package: "firezone"` below.
        .package(name: "firezone", path: "../.."),
        // Only the malloc interposer: the default traits add RuntimeInterposer, whose package
        // (swift-runtime-interposer) the package mirror does not carry.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "RelayBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "IPPacket", package: "firezone"),
                .product(name: "STUN", package: "firezone"),
                .product(name: "RelayCore", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/RelayBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "IPPacketBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "IPPacket", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/IPPacketBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "WireGuardBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "WireGuard", package: "firezone"),
                .product(name: "FirezoneCrypto", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/WireGuardBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "SnownetBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Snownet", package: "firezone"),
                .product(name: "WireGuard", package: "firezone"),
                .product(name: "ICE", package: "firezone"),
                .product(name: "TURNClient", package: "firezone"),
                .product(name: "IPPacket", package: "firezone"),
                .product(name: "FirezoneCrypto", package: "firezone"),
                .product(name: "FirezoneTime", package: "firezone"),
                .product(name: "FirezoneTesting", package: "firezone"),
                .product(name: "SimulatedRelay", package: "firezone"),
                "CHeapUsage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/SnownetBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ConnlibBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ConnlibCore", package: "firezone"),
                .product(name: "PortalMessages", package: "firezone"),
                .product(name: "Snownet", package: "firezone"),
                .product(name: "WireGuard", package: "firezone"),
                .product(name: "IPPacket", package: "firezone"),
                .product(name: "FirezoneCrypto", package: "firezone"),
                .product(name: "FirezoneTime", package: "firezone"),
                .product(name: "FirezoneTesting", package: "firezone"),
                .product(name: "SimulatedRelay", package: "firezone"),
                .product(name: "SimulatedConnlib", package: "firezone"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/ConnlibBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .target(name: "CHeapUsage", path: "Benchmarks/CHeapUsage"),
    ]
)
