// connlib's client and gateway states on their per-packet paths, over snownet's Node (whose own per-packet
// benchmarks, "snownet encapsulate/decapsulate direct", run in the same suite for comparison).
//
// A client and a gateway connected directly with a flow to a CIDR resource and to a DNS resource (ConnectedTunnel),
// set up once per benchmark outside the measurement; 1280-byte IPv4 UDP packets (the largest an IPPacket may be,
// IPPacketConstants.maximumPacketLength, where snownet's benchmarks seal 1420 raw bytes):
// - client encrypt: `handleTunInput` of a packet to the CIDR resource, sealed where it lies;
// - client decrypt: `handleNetworkInput` of a datagram the gateway sealed, then `pollTunWrite`;
// - gateway decrypt: `handleNetworkInput` of a datagram the client sealed (filters, NAT lookup) to each resource;
// - gateway encrypt: `handleTUNInput` of the resource's reply to the client (the DNS resource's through the proxy-IP
//   NAT), sealed where it lies;
// - the client's `handleTimeout` with nothing due on an idle connected tunnel.
// A packet or datagram is handed over in one buffer that the benchmark reuses, as connlib's shell hands the event
// loop driver's receive storage: the state seals and opens it there, and the datagram or packet it returns lies in
// that storage (a copy would allocate). Nothing measured may allocate (`check-allocations.sh` fails on any benchmark
// named "connlib…" that does).

import Benchmark
import ConnlibCore
import FirezoneTime
import IPPacket
import NIOCore
import Snownet

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2)
    )
    let length = 1280
    let client = IPAddress.v4(ConnectedTunnel.clientIPv4)

    Benchmark("connlib client encrypt, CIDR resource (1280 bytes)", configuration: configuration) { benchmark in
        var tunnel = ConnectedTunnel()
        let now = tunnel.now
        let template = Array(
            ConnectedTunnel.packet(from: client, to: ConnectedTunnel.cidrTarget, length: length).buffer
                .readableBytesView
        )
        var buffer = ByteBufferAllocator().buffer(capacity: 2048)
        var sealed = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            buffer.moveReaderIndex(to: 0)
            buffer.moveWriterIndex(to: NodeConstants.headroom)
            buffer.moveReaderIndex(to: NodeConstants.headroom)
            buffer.writeBytes(template)
            if tunnel.client.handleTunInput(&buffer, now: now) != nil {
                sealed += 1
            }
        }
        benchmark.stopMeasurement()
        precondition(sealed == benchmark.scaledIterations.count, "every packet was sealed")
        precondition(buffer.readableBytes == length + 32, "the last packet was sealed")
        precondition(tunnel.client.pollTransmit() == nil, "nothing else was sent")
    }

    Benchmark("connlib client decrypt, CIDR resource (1280 bytes)", configuration: configuration) { benchmark in
        var tunnel = ConnectedTunnel()
        let now = tunnel.now
        let reply = ConnectedTunnel.packet(from: ConnectedTunnel.cidrTarget, to: client, length: length, swapped: true)
        var datagrams = sealedDatagrams(benchmark.scaledIterations.count) {
            tunnel.gateway.handleTUNInput(try! IPPacket(reply.buffer.withEncapsulationRoom()), now: now)
            return tunnel.gateway.pollTransmit()!.payload
        }
        var delivered = 0
        benchmark.startMeasurement()
        for index in datagrams.indices {
            if tunnel.client.handleNetworkInput(
                &datagrams[index],
                from: tunnel.gatewaySocket,
                local: tunnel.clientSocket,
                now: now
            ) != nil {
                delivered += 1
            }
            while let packet = tunnel.client.pollTunWrite() {
                blackHole(packet)
                delivered += 1
            }
        }
        benchmark.stopMeasurement()
        precondition(delivered == datagrams.count, "every datagram was delivered")
    }

    for resource in ["CIDR", "DNS"] {
        Benchmark("connlib gateway decrypt, \(resource) resource (1280 bytes)", configuration: configuration) {
            benchmark in
            var tunnel = ConnectedTunnel()
            let now = tunnel.now
            let destination = resource == "CIDR" ? ConnectedTunnel.cidrTarget : tunnel.proxyIP!
            let packet = ConnectedTunnel.packet(from: client, to: destination, length: length)
            var datagrams = sealedDatagrams(benchmark.scaledIterations.count) {
                tunnel.client.handleTunInput(try! IPPacket(packet.buffer.withEncapsulationRoom()), now: now)
                return tunnel.client.pollTransmit()!.payload
            }
            var forwarded = 0
            var last: IPPacket?
            benchmark.startMeasurement()
            for index in datagrams.indices {
                last = tunnel.gateway.handleNetworkInput(
                    &datagrams[index],
                    from: tunnel.clientSocket,
                    local: tunnel.gatewaySocket,
                    now: now
                )
                if last != nil {
                    forwarded += 1
                }
            }
            benchmark.stopMeasurement()
            precondition(forwarded == datagrams.count, "every packet was forwarded")
            precondition(
                last?.destination == (resource == "CIDR" ? ConnectedTunnel.cidrTarget : ConnectedTunnel.dnsTarget),
                "to the resource"
            )
        }

        Benchmark("connlib gateway encrypt, \(resource) resource (1280 bytes)", configuration: configuration) {
            benchmark in
            var tunnel = ConnectedTunnel()
            let now = tunnel.now
            let forwarded = tunnel.gatewayTun[resource == "CIDR" ? 0 : 1]
            let template = Array(
                ConnectedTunnel.packet(from: forwarded.destination, to: client, length: length, swapped: true)
                    .buffer.readableBytesView
            )
            var buffer = ByteBufferAllocator().buffer(capacity: 2048)
            var sealed = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                buffer.moveReaderIndex(to: 0)
                buffer.moveWriterIndex(to: NodeConstants.headroom)
                buffer.moveReaderIndex(to: NodeConstants.headroom)
                buffer.writeBytes(template)
                if tunnel.gateway.handleTUNInput(&buffer, now: now) != nil {
                    sealed += 1
                }
            }
            benchmark.stopMeasurement()
            precondition(sealed == benchmark.scaledIterations.count, "every packet was sealed")
            precondition(tunnel.gateway.pollTransmit() == nil, "nothing else was sent")
        }
    }

    Benchmark(
        "connlib client handleTimeout, nothing due (idle connected tunnel)",
        configuration: configuration
    ) { benchmark in
        var tunnel = ConnectedTunnel()
        // Past the idle switch, to just after a timer fired: the client's next deadline is ahead.
        tunnel.run(for: .seconds(30))
        let now = tunnel.now
        precondition(now < tunnel.client.pollTimeout()!.deadline, "nothing is due")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            tunnel.client.handleTimeout(now: now)
            blackHole(tunnel.client.pollTimeout())
        }
        benchmark.stopMeasurement()
        precondition(tunnel.client.pollTransmit() == nil, "nothing was sent")
    }
}

/// `count` datagrams `seal` makes, each copied into a buffer of 2,048 bytes of its own (allocated one after another, as snownet's decapsulate benchmark has them), so
/// that opening it in place does not copy it.
func sealedDatagrams(_ count: Int, _ seal: () -> ByteBuffer) -> [ByteBuffer] {
    (0..<count).map { _ in
        let datagram = seal()
        var buffer = ByteBufferAllocator().buffer(capacity: 2048)
        buffer.writeImmutableBuffer(datagram)
        return buffer
    }
}
