// snownet's `Node` on its per-packet path and at a gateway's scale.
//
// Per packet (1420-byte packets, as the bare WireGuard benchmarks, which run in the same suite for comparison):
// a client and a gateway with an established connection, direct, or relayed (direct traffic between them dropped,
// so that ICE nominates a pair through the relay): "encapsulate" seals a packet on the side whose nominated local
// candidate is the relayed one, so that the channel-data header is written in front; "decapsulate" takes on that
// side the datagrams its peer sealed, as the relay forwards them (channel data). Nothing measured may allocate
// (`check-allocations.sh` fails on any benchmark named "snownet…" that does).
//
// Scale: a gateway with 100 and with 10,000 idle established connections (one client node each). "handleTimeout,
// nothing due" is the cost of the shell's timer call when no connection is due, which must not grow with the
// number of connections; "gateway, 10000 idle connections" records the gateway's heap bytes per connection and
// the idle traffic over ten simulated minutes (custom metrics, one sample).

import Benchmark
import CHeapUsage
import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import Snownet
import WireGuard

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2)
    )
    let length = 1420

    for relayed in [false, true] {
        let path = relayed ? "relayed" : "direct"
        Benchmark("snownet encapsulate \(path) (1420 bytes)", configuration: configuration) { benchmark in
            var pair = ConnectedPair(relayed: relayed)
            var buffer = ByteBufferAllocator().buffer(capacity: 2048)
            buffer.writeRepeatingByte(0x45, count: 2048)
            var destination: NodeDestination?
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                buffer.moveReaderIndex(to: 0)
                buffer.moveWriterIndex(to: NodeConstants.headroom + length)
                buffer.moveReaderIndex(to: NodeConstants.headroom)
                destination = try! pair.encapsulate(&buffer)
                blackHole(destination)
            }
            benchmark.stopMeasurement()
            let header = relayed ? 4 : 0
            precondition(destination != nil, "the last packet was sealed")
            precondition(
                buffer.readableBytes == header + WireGuardConstants.transportOverhead + 1424,
                "the last packet was sealed\(relayed ? " in channel data" : "")"
            )
        }

        Benchmark("snownet decapsulate \(path) (1420 bytes)", configuration: configuration) { benchmark in
            var pair = ConnectedPair(relayed: relayed)
            var sealed: [ByteBuffer] = []
            var addresses: [(source: IPSocketAddress, local: IPSocketAddress)] = []
            // The first datagrams are decapsulated before the measurement: a sample's setup (a whole network of
            // nodes and a relay) leaves the node's own state out of the caches, which the bare tunnel's small setup
            // does not.
            let warmUp = 32
            for _ in 0..<warmUp + benchmark.scaledIterations.count {
                let (datagram, source, local) = pair.datagramFromPeer(length: length)
                sealed.append(datagram)
                addresses.append((source, local))
            }
            // Copied into buffers of 2,048 bytes allocated one after another, as the bare tunnel's benchmark has its
            // datagrams: the same memory layout for both, not the network's interleaved allocations. Each buffer only
            // in `buffers`, so that decapsulating in place does not copy it.
            var buffers = sealed.map { datagram in
                var buffer = ByteBufferAllocator().buffer(capacity: 2048)
                buffer.writeImmutableBuffer(datagram)
                return buffer
            }
            sealed.removeAll()
            var delivered = 0
            for index in 0..<warmUp {
                let (source, local) = addresses[index]
                if (try? pair.decapsulate(&buffers[index], from: source, local: local)) != nil {
                    delivered += 1
                }
            }
            benchmark.startMeasurement()
            for index in benchmark.scaledIterations {
                let (source, local) = addresses[warmUp + index]
                if (try? pair.decapsulate(&buffers[warmUp + index], from: source, local: local)) != nil {
                    delivered += 1
                }
            }
            benchmark.stopMeasurement()
            precondition(delivered == warmUp + benchmark.scaledIterations.count, "every datagram was delivered")
            precondition(buffers.allSatisfy { $0.readableBytes == length }, "every packet was decrypted")
        }
    }

    for count in [100, 10_000] {
        let population = Population()
        Benchmark(
            "snownet handleTimeout, nothing due (\(count) idle connections)",
            configuration: Benchmark.Configuration(
                metrics: [.wallClock, .throughput, .mallocCountTotal],
                scalingFactor: .kilo,
                maxDuration: .seconds(2)
            ),
            closure: { benchmark in
                let earliest = population.network.gateway.pollTimeout()!.deadline
                let now = population.network.now
                precondition(now < earliest, "nothing is due")
                let unixTime = population.network.clock.unixTime
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    population.network.gateway.handleTimeout(now: now, unixTime: unixTime)
                    blackHole(population.network.gateway.pollTimeout())
                }
                benchmark.stopMeasurement()
                precondition(population.network.gateway.pollTransmit() == nil, "nothing was sent")
            },
            setup: {
                population.network = NodeNetwork()
                population.network.connectClients(count)
                // Past the idle switch, then to just after a timer fired: the gateway's next deadline is ahead.
                population.network.run(for: .seconds(30), step: .seconds(1))
                precondition(
                    (0..<count).allSatisfy {
                        population.network.gateway.isIdle($0)
                            && population.network.clients[$0].isEstablished(NodeNetwork.gatewayID)
                    },
                    "every connection is established and idle"
                )
            }
        )
    }

    let minutes = 10
    Benchmark(
        "snownet gateway, 10000 idle connections",
        configuration: Benchmark.Configuration(
            metrics: [
                .custom("heap bytes per connection", useScalingFactor: false),
                .custom("ICE checks per connection and minute, gateway, x1000", useScalingFactor: false),
                .custom("ICE checks per connection and minute, client, x1000", useScalingFactor: false),
                .custom("keep-alives per connection and minute, client, x1000", useScalingFactor: false),
                .custom("other datagrams, all connections", useScalingFactor: false),
            ],
            warmupIterations: 0,
            maxIterations: 1
        ),
        closure: { benchmark in
            let count = 10_000
            var network = NodeNetwork()
            // A quarter of the gateway's handshake budget (WireGuardConstants.handshakeRateLimit, 100 a second), so
            // that connecting, and the rekeying that follows every 120 s, stays below it.
            network.connectClients(count, perSecond: 25)
            network.run(for: .seconds(30), step: .seconds(1))
            precondition((0..<count).allSatisfy { network.gateway.isIdle($0) }, "every connection is idle")

            let gatewayBefore = network.gatewaySent
            let clientsBefore = network.clientsSent
            let before = network.perConnection
            network.run(for: .seconds(60 * minutes), step: .milliseconds(250))
            let held = (0..<count).filter {
                network.gateway.isEstablished($0) && network.clients[$0].isEstablished(NodeNetwork.gatewayID)
            }.count
            print("\(held) of \(count) connections held; failures: \(network.failures)")
            guard held == count else {
                fatalError("\(held) of \(count) connections held; failures: \(network.failures)")
            }
            let gatewaySent = network.gatewaySent - gatewayBefore
            let clientsSent = network.clientsSent - clientsBefore
            var gatewayChecks = 0...0
            var clientChecks = 0...0
            var keepalives = 0...0
            for index in 0..<count {
                let after = network.perConnection[index]
                let g = after.gatewayChecks - before[index].gatewayChecks
                let c = after.clientChecks - before[index].clientChecks
                let k = after.clientKeepalives - before[index].clientKeepalives
                if index == 0 {
                    (gatewayChecks, clientChecks, keepalives) = (g...g, c...c, k...k)
                }
                gatewayChecks = min(gatewayChecks.lowerBound, g)...max(gatewayChecks.upperBound, g)
                clientChecks = min(clientChecks.lowerBound, c)...max(clientChecks.upperBound, c)
                keepalives = min(keepalives.lowerBound, k)...max(keepalives.upperBound, k)
            }
            print(
                "\(minutes) idle minutes, per connection: gateway ICE checks \(gatewayChecks), client ICE checks "
                    + "\(clientChecks), client keep-alives \(keepalives); gateway sent \(gatewaySent), clients sent "
                    + "\(clientsSent)"
            )
            // The low-power timers (ConnectionTiming): one check a minute each way, a client keep-alive every 25 s (plus the one that confirms
            // each rekeying handshake, every 120 s of sending).
            precondition(gatewayChecks.lowerBound >= minutes - 1 && gatewayChecks.upperBound <= minutes + 1)
            precondition(clientChecks.lowerBound >= minutes - 1 && clientChecks.upperBound <= minutes + 1)
            let expectedKeepalives = minutes * 60 / 25 + minutes * 60 / 120
            precondition(
                keepalives.lowerBound >= expectedKeepalives - 2 && keepalives.upperBound <= expectedKeepalives + 1
            )
            precondition(gatewaySent.wireGuardKeepalives == 0 && gatewaySent.wireGuardData == 0)
            precondition(clientsSent.wireGuardData == 0)
            let perMinute = { (total: Int) in total * 1000 / (count * minutes) }
            benchmark.measurement(
                .custom("ICE checks per connection and minute, gateway, x1000", useScalingFactor: false),
                perMinute(gatewaySent.iceRequests)
            )
            benchmark.measurement(
                .custom("ICE checks per connection and minute, client, x1000", useScalingFactor: false),
                perMinute(clientsSent.iceRequests)
            )
            benchmark.measurement(
                .custom("keep-alives per connection and minute, client, x1000", useScalingFactor: false),
                perMinute(clientsSent.wireGuardKeepalives)
            )
            benchmark.measurement(
                .custom("other datagrams, all connections", useScalingFactor: false),
                gatewaySent.wireGuardData + clientsSent.wireGuardData + gatewaySent.wireGuardKeepalives
            )

            // The gateway's heap: everything it holds, less an empty node's, per connection; and how much of it the
            // connections' own state is (what removing them frees, the node's tables keeping their capacity).
            let withConnections = heapBytesInUse()
            for index in 0..<count {
                network.gateway.removeConnection(index, now: network.now)
            }
            let withoutConnections = heapBytesInUse()
            network.gateway = NodeNetwork.PeerNode(
                role: .gateway,
                secret: NodeNetwork.gatewaySecret,
                seed: NodeNetwork.seed(0, 1),
                logger: .init(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }),
                now: network.now,
                unixTime: network.clock.unixTime
            )
            let without = heapBytesInUse()
            benchmark.measurement(
                .custom("heap bytes per connection", useScalingFactor: false),
                (withConnections - without) / count
            )
            print(
                "gateway heap: \(withConnections - without) bytes for \(count) connections, of which removing the "
                    + "connections freed \(withConnections - withoutConnections)"
            )
            blackHole(network)
        }
    )
}

func heapBytesInUse() -> Int {
    Int(fz_heap_bytes_in_use())
}

/// A network kept between a benchmark's setup and its runs.
final class Population: @unchecked Sendable {
    var network = NodeNetwork()
}

/// A client and a gateway with an established connection; `ours` is the side whose nominated local candidate is
/// relayed when the path goes through the relay.
struct ConnectedPair {
    var network: NodeNetwork
    let oursIsGateway: Bool
    let now: Instant

    init(relayed: Bool) {
        self.network = NodeNetwork(directBlocked: relayed)
        self.network.connectClients(1)
        let clientPath = self.network.clients[0].path(of: NodeNetwork.gatewayID)!
        let gatewayPath = self.network.gateway.path(of: 0)!
        if relayed {
            let ourSide: Set<ConnectionPath> = [.relayedOnOurSide, .relayToRelay]
            precondition(ourSide.contains(clientPath) || ourSide.contains(gatewayPath), "a relayed path")
            self.oursIsGateway = !ourSide.contains(clientPath)
        } else {
            precondition(clientPath == .direct && gatewayPath == .direct, "a direct path")
            self.oursIsGateway = false
        }
        self.now = self.network.now
    }

    mutating func encapsulate(_ packet: inout ByteBuffer) throws(NodeError) -> NodeDestination? {
        if self.oursIsGateway {
            try self.network.gateway.encapsulate(&packet, for: 0, now: self.now)
        } else {
            try self.network.clients[0].encapsulate(&packet, for: NodeNetwork.gatewayID, now: self.now)
        }
    }

    mutating func decapsulate(
        _ datagram: inout ByteBuffer,
        from source: IPSocketAddress,
        local: IPSocketAddress
    ) throws(NodeError) -> Int? {
        if self.oursIsGateway {
            try self.network.gateway.decapsulate(&datagram, from: source, local: local, now: self.now)
        } else {
            try self.network.clients[0].decapsulate(&datagram, from: source, local: local, now: self.now)
        }
    }

    /// A datagram the peer seals for us, carrying a `length`-byte IPv4 packet, as it arrives.
    mutating func datagramFromPeer(
        length: Int
    ) -> (datagram: ByteBuffer, source: IPSocketAddress, local: IPSocketAddress) {
        var packet = ByteBufferAllocator().buffer(capacity: 2048)
        packet.writeRepeatingByte(0, count: NodeConstants.headroom)
        packet.moveReaderIndex(forwardBy: NodeConstants.headroom)
        packet.writeInteger(UInt16(0x4500))
        packet.writeInteger(UInt16(length))
        packet.writeRepeatingByte(0xAB, count: length - 4)
        return self.network.datagram(sealing: &packet, fromGateway: !self.oursIsGateway, connection: 0)
    }
}
