// WireGuard's per-packet path on 1420-byte packets (a full packet at the usual WireGuard MTU), beside the raw
// ChaCha20-Poly1305 of the two libraries it can use: the tunnel's overhead over its AEAD is what these show.
// Encapsulation seals in place in the caller's buffer; decapsulation opens in place. Datagrams for the decrypting
// benchmarks are prepared before each sample's measurement starts. Nothing measured may allocate
// (`check-allocations.sh` fails on any benchmark named "wireguard…" that does). Gbit/s = packets/s × 1420 × 8.

import Benchmark
import FirezoneCrypto
import FirezoneTime
import Logging
import NIOCore
import WireGuard

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2)
    )
    let length = 1420
    let padded = 1424

    Benchmark("wireguard encapsulate (1420 bytes)", configuration: configuration) { benchmark in
        var pair = WireGuardBench.established()
        var buffer = ByteBufferAllocator().buffer(capacity: 2048)
        buffer.writeRepeatingByte(0x45, count: 2048)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            buffer.moveReaderIndex(to: 0)
            buffer.moveWriterIndex(to: WireGuardConstants.transportHeaderLength + length)
            buffer.moveReaderIndex(to: WireGuardConstants.transportHeaderLength)
            blackHole(pair.alice.encapsulate(&buffer, now: pair.now))
        }
        benchmark.stopMeasurement()
        precondition(
            buffer.readableBytes == WireGuardConstants.transportOverhead + padded,
            "the last packet was sealed"
        )
    }

    Benchmark("wireguard decapsulate (1420 bytes)", configuration: configuration) { benchmark in
        var pair = WireGuardBench.established()
        var datagrams = (0..<benchmark.scaledIterations.count).map { _ in ByteBufferAllocator().buffer(capacity: 2048) }
        for index in datagrams.indices {
            datagrams[index].writeRepeatingByte(0, count: WireGuardConstants.transportHeaderLength)
            datagrams[index].moveReaderIndex(forwardBy: WireGuardConstants.transportHeaderLength)
            datagrams[index].writeInteger(UInt16(0x4500))
            datagrams[index].writeInteger(UInt16(length))
            datagrams[index].writeRepeatingByte(0xAB, count: length - 4)
            precondition(pair.alice.encapsulate(&datagrams[index], now: pair.now) == .datagram)
        }
        var delivered = 0
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            if (try? pair.bob.decapsulate(&datagrams[index], now: pair.now)) == .packet {
                delivered += 1
            }
        }
        benchmark.stopMeasurement()
        precondition(delivered == benchmark.scaledIterations.count, "every datagram was delivered")
    }

    // libsodium's transport AEAD is package-internal to WireGuard; its comparison with OpenSSL is in
    // docs/benchmarks.md.
    for name in ["openssl"] {
        Benchmark("wireguard aead \(name) seal (1424 bytes)", configuration: configuration) { benchmark in
            let cipher = WireGuardBench.cipher(name)
            let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: padded + 16, alignment: 16)
            defer { storage.deallocate() }
            storage.initializeMemory(as: UInt8.self, repeating: 0x45)
            let plaintext = UnsafeMutableRawBufferPointer(rebasing: storage[0..<padded])
            benchmark.startMeasurement()
            for counter in benchmark.scaledIterations {
                cipher.seal(counter: UInt64(counter), plaintext, tag: storage.baseAddress! + padded)
            }
            benchmark.stopMeasurement()
        }

        Benchmark("wireguard aead \(name) open (1424 bytes)", configuration: configuration) { benchmark in
            let cipher = WireGuardBench.cipher(name)
            let count = benchmark.scaledIterations.count
            let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: (padded + 16) * count, alignment: 16)
            defer { storage.deallocate() }
            storage.initializeMemory(as: UInt8.self, repeating: 0x45)
            for index in 0..<count {
                let base = index * (padded + 16)
                cipher.seal(
                    counter: UInt64(index),
                    UnsafeMutableRawBufferPointer(rebasing: storage[base..<base + padded]),
                    tag: storage.baseAddress! + base + padded
                )
            }
            var opened = 0
            benchmark.startMeasurement()
            for index in benchmark.scaledIterations {
                let base = index * (padded + 16)
                if cipher.open(
                    counter: UInt64(index),
                    UnsafeMutableRawBufferPointer(rebasing: storage[base..<base + padded]),
                    tag: storage.baseAddress! + base + padded
                ) {
                    opened += 1
                }
            }
            benchmark.stopMeasurement()
            precondition(opened == count, "every packet authenticated")
        }
    }
}

/// Two tunnels with an established session.
enum WireGuardBench {
    struct Pair {
        var alice: WireGuardTunnel
        var bob: WireGuardTunnel
        let now: Instant
    }

    static func key(_ seed: UInt8) -> Bytes32 {
        Bytes32((0..<32).map { seed &+ UInt8($0) &* 3 })!
    }

    static func cipher(_ name: String) -> any TransportAEAD {
        OpenSSLChaCha20Poly1305(key: key(9))
    }

    static func established() -> Pair {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let aliceIdentity = LocalIdentity(secret: StaticSecret(key(1)))
        let bobIdentity = LocalIdentity(secret: StaticSecret(key(2)))
        let now = Instant.zero + .seconds(1)
        var alice = WireGuardTunnel(
            local: aliceIdentity,
            remote: bobIdentity.publicKey,
            peerIndex: PeerIndex(1),
            seed: key(3),
            logger: logger,
            now: now,
            unixTime: .seconds(1_750_000_000)
        )
        var bob = WireGuardTunnel(
            local: bobIdentity,
            remote: aliceIdentity.publicKey,
            peerIndex: PeerIndex(2),
            seed: key(4),
            logger: logger,
            now: now,
            unixTime: .seconds(1_750_000_000)
        )
        alice.rollOverSession(now: now)
        var buffer = ByteBuffer()
        for _ in 0..<3 {
            while alice.pollTransmit(into: &buffer, now: now) {
                _ = try? bob.decapsulate(&buffer, now: now)
            }
            while bob.pollTransmit(into: &buffer, now: now) {
                _ = try? alice.decapsulate(&buffer, now: now)
            }
        }
        precondition(alice.hasSession && bob.hasSession, "the handshake completed")
        return Pair(alice: alice, bob: bob, now: now)
    }
}
