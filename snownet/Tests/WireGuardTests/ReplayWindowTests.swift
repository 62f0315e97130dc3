import Testing

@testable import WireGuard

struct ReplayWindowTests {
    @Test func acceptsEachCounterOnceInAnyOrderWithinTheWindow() {
        var window = ReplayWindow()
        let result1 = window.accept(0)
        #expect(result1)
        let result2 = window.accept(0)
        #expect(!result2)
        let result3 = window.accept(5)
        #expect(result3)
        let result4 = window.accept(3)
        #expect(result4)
        let result5 = window.accept(3)
        #expect(!result5)
        let result6 = window.accept(1)
        #expect(result6)
        let result7 = window.accept(5000)
        #expect(result7)
        let result8 = window.accept(5000 - ReplayWindow.windowSize)
        #expect(result8)
        let result9 = window.accept(5000 - ReplayWindow.windowSize - 1)
        #expect(!result9)
        #expect(!window.mightAccept(4))
        #expect(window.mightAccept(4999))
    }

    @Test func forgetsNothingInsideTheWindowAcrossLargeJumps() {
        var window = ReplayWindow()
        for counter in stride(from: UInt64(0), to: 10_000, by: 3) {
            let result10 = window.accept(counter)
            #expect(result10)
        }
        for counter in stride(from: UInt64(9000), to: 9999, by: 3) {
            let result11 = window.accept(counter)
            #expect(!result11)
        }
        let result12 = window.accept(9998)
        #expect(result12)
        let result13 = window.accept(1_000_000)
        #expect(result13)
        let result14 = window.accept(9998)
        #expect(!result14)
    }

    @Test func rejectsTheEndOfTheCounterSpace() {
        var window = ReplayWindow()
        let result15 = window.accept(WireGuardConstants.rejectAfterMessages)
        #expect(!result15)
        let result16 = window.accept(WireGuardConstants.rejectAfterMessages - 1)
        #expect(result16)
    }
}
