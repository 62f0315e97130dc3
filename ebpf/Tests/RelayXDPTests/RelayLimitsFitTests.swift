import CRelayXDP
import RelayCore
import Testing

/// The core refuses bindings before the kernel maps are full, so every binding it makes can be offloaded.
struct RelayLimitsFitTests {
    @Test func theRelayWideBindingLimitIsBelowTheMapsCapacity() {
        #expect(RelayLimits().channelBindings < Int(RELAY_XDP_MAXIMUM_BINDINGS))
    }
}
