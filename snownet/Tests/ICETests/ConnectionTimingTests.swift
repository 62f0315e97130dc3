import ICE
import Testing

@Suite struct ConnectionTimingTests {
    @Test func activeConnectionFailsAboutTenSecondsAfterItsPathBreaks() {
        let timeout = ConnectionTiming.failureTimeout(
            checkInterval: ConnectionTiming.activeCheckInterval,
            maximumMissedResponses: ConnectionTiming.activeMaximumMissedResponses
        )
        #expect(timeout == .milliseconds(10_500))
    }

    @Test func idleConnectionFailsWithinFourCheckIntervals() {
        let timeout = ConnectionTiming.failureTimeout(
            checkInterval: ConnectionTiming.idleCheckInterval,
            maximumMissedResponses: ConnectionTiming.idleMaximumMissedResponses
        )
        #expect(timeout <= ConnectionTiming.idleCheckInterval * 4)
        #expect(timeout == .seconds(180))
    }
}
