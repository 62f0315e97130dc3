import FirezoneTesting
import FirezoneTime
import IPPacket
import NIOCore
import STUN
import TURNClient
import Testing

/// Whatever the server sends and whenever, the allocation neither crashes nor spins: random bytes, and responses to
/// its real transactions with random classes, error codes, attributes and signatures, between random calls.
struct AllocationFuzzTests {
    typealias Server = ScriptedServer

    static let errors: [STUNErrorCode] = [
        .badRequest, .unauthorized, .forbidden, .unknownAttribute, .allocationMismatch, .staleNonce,
        .addressFamilyNotSupported, .wrongCredentials, .allocationQuotaReached, .serverError, .insufficientCapacity,
        STUNErrorCode(code: 699, reason: "?"),
    ]

    static func address(_ rng: inout SeededRandomNumberGenerator) -> IPSocketAddress {
        let port = UInt16.random(in: 0...3, using: &rng) + 9000
        return Bool.random(using: &rng)
            ? IPSocketAddress(
                .v4(IPv4Address(rawValue: 0x0A00_0000 + UInt32.random(in: 0...7, using: &rng))),
                port: port
            )
            : IPSocketAddress(.v6(IPv6Address("2001:db8:9::\(Int.random(in: 1...8, using: &rng))")!), port: port)
    }

    static func attributes(_ rng: inout SeededRandomNumberGenerator) -> [STUNAttribute] {
        var attributes: [STUNAttribute] = []
        for _ in 0..<Int.random(in: 0...5, using: &rng) {
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: attributes.append(.xorRelayedAddress(Self.address(&rng)))
            case 1: attributes.append(.xorMappedAddress(Self.address(&rng)))
            case 2: attributes.append(.lifetime([0, 1, 2, 600, UInt32.max].randomElement(using: &rng)!))
            case 3: attributes.append(.nonce(["nonce-1", "nonce-2", ""].randomElement(using: &rng)!))
            case 4: attributes.append(.realm([Server.realm, "other"].randomElement(using: &rng)!))
            case 5: attributes.append(.unknownAttributes([0x8000]))
            case 6: attributes.append(.channelNumber(0x4000))
            default: attributes.append(.software("fuzz"))
            }
        }
        return attributes
    }

    @Test(arguments: TestSeeds.seeds(count: 20))
    func randomServerBehaviourNeverCrashesOrSpins(seed: UInt64) throws {
        var rng = SeededRandomNumberGenerator(seed: seed)
        var server = Server(server: .dual(v4: Server.serverV4, v6: Server.serverV6))
        var pending: [Server.Sent] = []
        for _ in 0..<400 {
            pending += try server.sent()
            _ = server.events()
            switch Int.random(in: 0..<10, using: &rng) {
            case 0...4 where !pending.isEmpty:
                let request = pending.remove(at: Int.random(in: 0..<pending.count, using: &rng))
                let response: STUNMessage
                switch Int.random(in: 0..<3, using: &rng) {
                case 0:
                    response = server.standardResponse(to: request.message, destination: request.destination)
                default:
                    let key = [Server.key, Array("wrong".utf8), nil].randomElement(using: &rng)!
                    let error = Bool.random(using: &rng) ? Self.errors.randomElement(using: &rng) : nil
                    response = Server.response(
                        to: request.message,
                        error: error,
                        attributes: Self.attributes(&rng),
                        key: key
                    )
                }
                if Bool.random(using: &rng) {
                    pending.append(request)
                }
                server.deliver(response, for: request)
            case 5:
                var bytes = ByteBuffer(bytes: rng.bytes(Int.random(in: 0...64, using: &rng)))
                if Bool.random(using: &rng), let request = pending.randomElement(using: &rng) {
                    bytes = request.bytes
                    let index = Int.random(in: 0..<bytes.readableBytes, using: &rng)
                    bytes.setInteger(UInt8.random(in: 0...255, using: &rng), at: index)
                }
                if let message = try? STUNMessage(decoding: bytes) {
                    _ = server.allocation.handleSTUN(
                        message,
                        from: Server.serverV4,
                        local: Server.localV4,
                        now: server.now
                    )
                }
            case 6:
                _ = server.allocation.channelForSending(to: Self.address(&rng), now: server.now)
                _ = server.allocation.peer(
                    forChannel: ChannelNumber(0x4000 + UInt16.random(in: 0...3, using: &rng)),
                    now: server.now
                )
            case 7:
                server.allocation.refresh(now: server.now)
            default:
                let step: Duration = .milliseconds(Int64.random(in: 0...30_000, using: &rng))
                server.advance(by: step)
                if let deadline = server.allocation.pollTimeout() {
                    #expect(
                        deadline > server.now,
                        "a timer stays due after handleTimeout; \(TestSeeds.replayHint(seed))"
                    )
                }
            }
            #expect(server.allocation.relayedAddresses.count <= 2, "\(TestSeeds.replayHint(seed))")
        }
    }
}
