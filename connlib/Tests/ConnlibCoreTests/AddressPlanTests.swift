import ConnlibCore
import IPPacket
import Testing

@Suite struct AddressPlanTests {
    @Test func tunnelRangesHoldClientsAndGatewaysButNotProxies() {
        #expect(AddressPlan.isTunnelAddress(.v4(IPv4Address(100, 64, 0, 1))))
        #expect(AddressPlan.isTunnelAddress(.v4(IPv4Address(100, 95, 255, 255))))
        #expect(!AddressPlan.isTunnelAddress(.v4(IPv4Address(100, 96, 0, 1))))
        #expect(AddressPlan.isTunnelAddress(.v6(IPv6Address("fd00:2021:1111::1")!)))
        #expect(!AddressPlan.isTunnelAddress(.v6(IPv6Address("fd00:2021:1111:8000::1")!)))
    }

    @Test func ipv4SentinelsLieInsideTheProxyRangeAndIPv6OnesOutside() {
        let sentinelV4 = IPAddress.v4(IPv4Address(100, 100, 111, 1))
        let sentinelV6 = IPAddress.v6(IPv6Address("fd00:2021:1111:8000:100:100:111:1")!)
        #expect(AddressPlan.isSentinel(sentinelV4) && AddressPlan.isProxyRange(sentinelV4))
        #expect(AddressPlan.isSentinel(sentinelV6) && !AddressPlan.isProxyRange(sentinelV6))
        #expect(!AddressPlan.isSentinel(.v4(IPv4Address(100, 96, 0, 1))))
    }
}
