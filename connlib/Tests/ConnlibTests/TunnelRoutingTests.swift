import Connlib
import Testing

struct TunnelRoutingTests {
    @Test func rulesAreOrderedUserRoutesThenLinkScopeThenInternet() {
        #expect(TunnelRouting.rules.map(\.priority) == [100, 200, 300])
        #expect(TunnelRouting.rules.map(\.table) == [0x2021_fd00, 0x2021_fd01, 0x2021_fd02])
    }
}
