import IPPacket
import Testing

@testable import ICE

@Suite struct CandidatePairTests {
    /// RFC 8445 §6.1.2.3: `2^32 × MIN(G,D) + 2 × MAX(G,D) + (G > D ? 1 : 0)`, G the controlling side's candidate.
    @Test func priorityFollowsTheControllingSidesCandidate() {
        let host = Candidate.host(IPSocketAddress("192.0.2.1:1")!)
        let relay = Candidate.relayed(IPSocketAddress("203.0.113.1:2")!)
        let (high, low) = (UInt64(host.priority), UInt64(relay.priority))
        #expect(CandidatePair.priority(local: host, remote: relay, role: .controlling) == low << 32 + 2 * high + 1)
        #expect(CandidatePair.priority(local: host, remote: relay, role: .controlled) == low << 32 + 2 * high)
        // Both agents of one pair compute one value.
        #expect(
            CandidatePair.priority(local: host, remote: relay, role: .controlling)
                == CandidatePair.priority(local: relay, remote: host, role: .controlled)
        )
    }
}
