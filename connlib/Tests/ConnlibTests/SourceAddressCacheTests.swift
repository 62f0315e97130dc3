import Connlib
import IPPacket
import Testing

struct SourceAddressCacheTests {
    @Test func theLocalAddressTowardLoopbackIsLoopbackAndIsLookedUpOnce() {
        var cache = SourceAddressCache()
        let loopback = IPAddress.v4(IPv4Address(127, 0, 0, 1))
        #expect(cache.localAddress(toward: loopback) == loopback)
        #expect(cache.localAddress(toward: loopback) == loopback)
        #expect(cache.lookups == 1)
    }

    @Test func resetForgetsTheAnswersSoARoamedHostLooksAgain() {
        var cache = SourceAddressCache()
        let loopback = IPAddress.v4(IPv4Address(127, 0, 0, 1))
        _ = cache.localAddress(toward: loopback)
        cache.reset()
        _ = cache.localAddress(toward: loopback)
        #expect(cache.lookups == 2)
    }
}

struct SourceAddressCacheBoundTests {
    @Test func aFloodOfSendersStaysWithinTheCapacityAndCountsEvictions() {
        var cache = SourceAddressCache(capacity: 64)
        // 127.0.0.0/8 is the host's own: every sender gets an answer and takes an entry.
        for index in 0..<5000 {
            let sender = IPAddress.v4(IPv4Address(127, 1, UInt8(index >> 8), UInt8(index & 0xff)))
            _ = cache.localAddress(toward: sender)
        }
        #expect(cache.lookups == 5000)
        #expect(cache.count == 64)
        #expect(cache.evictions == 5000 - 64)
    }

    @Test func aPeerInUseSurvivesAFloodThroughItsSet() {
        var cache = SourceAddressCache(capacity: 2)
        let peer = IPAddress.v4(IPv4Address(127, 0, 0, 1))
        _ = cache.localAddress(toward: peer)
        // One set of two ways: each new sender replaces the way that was not used last, never the busy peer.
        for index in 0..<100 {
            _ = cache.localAddress(toward: .v4(IPv4Address(127, 0, 1, UInt8(index))))
            #expect(cache.localAddress(toward: peer) == peer)
        }
        #expect(cache.lookups == 101)
        #expect(cache.evictions == 99)
    }
}
