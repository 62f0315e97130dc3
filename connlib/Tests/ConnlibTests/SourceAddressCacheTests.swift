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
