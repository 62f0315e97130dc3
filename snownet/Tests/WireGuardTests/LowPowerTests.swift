import NIOCore
import Testing
import WireGuard

/// A tunnel in low power keeps its sessions' keys but no cipher contexts between packets, and still carries data.
struct LowPowerTests {
    @Test func lowPowerFreesTheContextsAndDataStillFlowsBothWays() throws {
        var pair = Pair()
        pair.alice.rollOverSession(now: pair.now)
        pair.exchange()
        var datagram = ByteBuffer()
        _ = pair.bob.encapsulate(ipv4Packet(totalLength: 60), into: &datagram, now: pair.now)
        _ = try pair.alice.decapsulate(&datagram, now: pair.now)
        #expect(pair.alice.cipherContexts == 2)
        #expect(pair.bob.cipherContexts == 2)

        pair.alice.setLowPower(true)
        #expect(pair.alice.cipherContexts == 0)
        for length in [40, 1420] {
            #expect(
                pair.alice.encapsulate(ipv4Packet(totalLength: length), into: &datagram, now: pair.now) == .datagram
            )
            #expect(pair.alice.cipherContexts == 0)
            #expect(try pair.bob.decapsulate(&datagram, now: pair.now) == .packet)
            #expect(datagram == ipv4Packet(totalLength: length))

            #expect(pair.bob.encapsulate(ipv4Packet(totalLength: length), into: &datagram, now: pair.now) == .datagram)
            #expect(try pair.alice.decapsulate(&datagram, now: pair.now) == .packet)
            #expect(datagram == ipv4Packet(totalLength: length))
            #expect(pair.alice.cipherContexts == 0)
        }

        // Back to normal: a context set up for a packet stays.
        pair.alice.setLowPower(false)
        #expect(pair.alice.encapsulate(ipv4Packet(totalLength: 40), into: &datagram, now: pair.now) == .datagram)
        #expect(pair.alice.cipherContexts == 1)
        #expect(try pair.bob.decapsulate(&datagram, now: pair.now) == .packet)
    }

    /// A session made while in low power (a rekey of an idle connection) holds no contexts either.
    @Test func aSessionInstalledInLowPowerHoldsNoContexts() throws {
        var pair = Pair()
        pair.alice.rollOverSession(now: pair.now)
        pair.exchange()
        pair.alice.setLowPower(true)
        pair.bob.setLowPower(true)
        pair.advance(by: .seconds(21))
        pair.alice.rollOverSession(now: pair.now)
        pair.exchange()
        #expect(pair.alice.cipherContexts == 0)
        #expect(pair.bob.cipherContexts == 0)
        var datagram = ByteBuffer()
        #expect(pair.alice.encapsulate(ipv4Packet(totalLength: 40), into: &datagram, now: pair.now) == .datagram)
        #expect(try pair.bob.decapsulate(&datagram, now: pair.now) == .packet)
    }
}
