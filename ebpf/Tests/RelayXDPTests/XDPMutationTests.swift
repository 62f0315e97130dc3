import CRelayXDP
import FirezoneTesting
import IPPacket
import NIOCore
import RelayCore
import RelayXDP
import STUN
import Testing

/// Bad input never crashes and never passes: valid frames of every translation, with random bytes flipped or
/// cut off, run through the program in the kernel. Whatever it decides, it decides one thing, counts it once,
/// leaves what it does not relay untouched, and never relays a frame a strict parser rejects, nor turns a wrong
/// checksum into a right one.
@Suite(.enabled(if: PrivilegedTests.enabled, "needs root: loads the XDP program into the kernel"))
struct XDPMutationTests {
    typealias F = XDPTestFixture
    static let runsPerSeed = 400

    @Test(arguments: TestSeeds.seeds(count: 8))
    func mutatedFramesAreRelayedIntactOrLeftAlone(seed: UInt64) throws {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let program = try F.program()
        var frames: [[UInt8]] = []
        for (index, (client, peer)) in F.familyPairs.enumerated() {
            let channel = ChannelNumber(0x4000 + UInt16(index))
            let port = AllocationPort(50_000 + UInt16(index))
            try program.insertBinding(client: F.client(client), channel: channel, peer: F.peer(peer), port: port)
            frames.append(
                try XDPTestFrames.udp(
                    from: F.client(client).address,
                    to: IPSocketAddress(F.relayAddress(client), port: F.listenPort),
                    payload: XDPTestFrames.channelData(
                        channel.value,
                        XDPTestFrames.data(UInt8(index), count: 40 + index)
                    )
                )
            )
            frames.append(
                try XDPTestFrames.udp(
                    from: F.peer(peer).address,
                    to: IPSocketAddress(F.relayAddress(peer), port: port.value),
                    payload: XDPTestFrames.data(UInt8(index), count: 33 + index)
                )
            )
        }

        for run in 0..<Self.runsPerSeed {
            var frame = frames[Int.random(in: 0..<frames.count, using: &rng)]
            if Bool.random(using: &rng) {
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    frame[Int.random(in: 0..<frame.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                }
            } else {
                // BPF_PROG_TEST_RUN takes nothing shorter than an Ethernet header.
                frame.removeLast(Int.random(in: 1...(frame.count - 14), using: &rng))
            }

            let result = try program.testRun(frame)

            let context = "run \(run), \(TestSeeds.replayHint(seed))"
            #expect(result.action != .aborted, "\(context)")
            guard result.action == .tx else {
                #expect(result.frame == frame, "left as it came: \(context)")
                continue
            }
            let input = try #require(
                try? IPPacket(ByteBuffer(bytes: frame[14...])),
                "relayed a frame IPPacket rejects: \(frame), \(context)"
            )
            let output = try TransmittedFrame(result.frame)
            #expect(
                output.packet.hasValidChecksums == input.hasValidChecksums,
                "checksums as valid as the input's: \(frame), \(context)"
            )
        }
        let counters = try program.counters()
        #expect(
            counters.packets.reduce(0, +) == UInt64(Self.runsPerSeed),
            "one reason per frame, \(TestSeeds.replayHint(seed))"
        )
    }
}
