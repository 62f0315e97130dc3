// The relay's per-packet path in the sans-IO core: channel data from a client to its peer, and a peer's
// datagram back to the client. Allocation and channel binding happen once, outside the measurement, through
// real STUN requests; each iteration then asks the core where one datagram goes. Nothing here may allocate
// (`check-allocations.sh` fails on any benchmark named "relay…" that does).

import Benchmark
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import RelayCore
import STUN

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2)
    )

    Benchmark("relay channel data client to peer (1200 bytes)", configuration: configuration) { benchmark in
        var relay = RelayBench.bound()
        var datagram = ByteBuffer()
        datagram.writeInteger(RelayBench.channel)
        datagram.writeInteger(UInt16(1200))
        datagram.writeRepeatingByte(0xAB, count: 1200)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(relay.handleClientInput(datagram, from: RelayBench.client, now: .zero))
        }
        benchmark.stopMeasurement()
        precondition(relay.stats.relayedPackets == UInt64(benchmark.scaledIterations.count), "every packet was relayed")
    }

    Benchmark("relay peer datagram to client (1200 bytes)", configuration: configuration) { benchmark in
        var relay = RelayBench.bound()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(relay.handlePeerInput(length: 1200, from: RelayBench.peer, to: RelayBench.port, now: .zero))
        }
        benchmark.stopMeasurement()
        precondition(relay.stats.relayedPackets == UInt64(benchmark.scaledIterations.count), "every packet was relayed")
    }
}

/// A relay with one allocation and one channel bound, built through real requests.
enum RelayBench {
    static let client = ClientSocket(IPSocketAddress("198.51.100.7:40000")!)
    static let peer = PeerSocket(IPSocketAddress("192.0.2.9:5000")!)
    static let channel: UInt16 = 0x4001
    nonisolated(unsafe) static var port = AllocationPort(0)

    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func bound() -> RelayServer<SplitMix> {
        let secret = "benchmark-secret"
        var relay = RelayServer(
            configuration: .init(publicIPv4: IPv4Address("203.0.113.1")!, publicIPv6: nil, authSecret: secret),
            rng: SplitMix(state: 1),
            now: .zero,
            unixTime: .seconds(1_700_000_000),
            logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let (username, password) = RelayCredentials.mint(expiry: 1_800_000_000, salt: "bench", secret: secret)
        let key = LongTermCredentials.key(username: username, realm: "firezone", password: password)
        var rng = SplitMix(state: 2)

        func request(_ method: STUNMethod, _ attributes: [STUNAttribute], key: [UInt8]?) -> STUNMessage {
            var buffer = ByteBuffer()
            STUNMessageEncoder.encode(
                type: STUNMessageType(method: method, class: .request),
                transactionID: TransactionID(using: &rng),
                attributes: attributes,
                messageIntegrityKey: key,
                into: &buffer
            )
            _ = relay.handleClientInput(buffer, from: client, now: .zero)
            var response: STUNMessage?
            while let command = relay.pollCommand() {
                switch command {
                case .sendMessage(let bytes, _):
                    response = try! STUNMessage(decoding: bytes)
                case .createAllocation(let port, let family):
                    relay.handleAllocationPortOpened(port, family, now: .zero)
                default:
                    break
                }
            }
            return response!
        }

        let nonce = request(.allocate, [.requestedTransport(17)], key: nil).nonce!
        let credentials: [STUNAttribute] = [.username(username), .realm("firezone"), .nonce(nonce)]
        let allocated = request(.allocate, [.requestedTransport(17)] + credentials, key: key)
        port = AllocationPort(allocated.xorRelayedAddresses[0].port)
        let bound = request(
            .channelBind,
            [.channelNumber(channel), .xorPeerAddress(peer.address)] + credentials,
            key: key
        )
        precondition(bound.type.class == .successResponse, "the channel is bound")
        return relay
    }
}
