import Testing

@testable import WireGuard

struct ReplayWindowTests {
    @Test func acceptsEachCounterOnceInAnyOrderWithinTheWindow() {
        var window = ReplayWindow()
        let accepted = window.accept(0)
        #expect(accepted)
        let accepted2 = window.accept(0)
        #expect(!accepted2)
        let accepted3 = window.accept(5)
        #expect(accepted3)
        let accepted4 = window.accept(3)
        #expect(accepted4)
        let accepted5 = window.accept(3)
        #expect(!accepted5)
        let accepted6 = window.accept(1)
        #expect(accepted6)
        let accepted7 = window.accept(12_000)
        #expect(accepted7)
        let accepted8 = window.accept(12_000 - ReplayWindow.windowSize)
        #expect(accepted8)
        let accepted9 = window.accept(12_000 - ReplayWindow.windowSize - 1)
        #expect(!accepted9)
        #expect(!window.mightAccept(4))
        #expect(window.mightAccept(11_999))
    }

    @Test func forgetsNothingInsideTheWindowAcrossLargeJumps() {
        var window = ReplayWindow()
        for counter in stride(from: UInt64(0), to: 10_000, by: 3) {
            let accepted = window.accept(counter)
            #expect(accepted)
        }
        for counter in stride(from: UInt64(9000), to: 9999, by: 3) {
            let accepted2 = window.accept(counter)
            #expect(!accepted2)
        }
        let accepted3 = window.accept(9998)
        #expect(accepted3)
        let accepted4 = window.accept(1_000_000)
        #expect(accepted4)
        let accepted5 = window.accept(9998)
        #expect(!accepted5)
    }

    @Test func rejectsTheEndOfTheCounterSpace() {
        var window = ReplayWindow()
        let accepted = window.accept(WireGuardConstants.rejectAfterMessages)
        #expect(!accepted)
        let accepted2 = window.accept(WireGuardConstants.rejectAfterMessages - 1)
        #expect(accepted2)
    }

    @Test func windowIs1984CountersWide() {
        var window = ReplayWindow()
        #expect(ReplayWindow.windowSize == 1984)
        let highest = window.accept(20_000)
        #expect(highest)
        #expect(window.mightAccept(20_000 - 1984))
        let oldestInside = window.accept(20_000 - 1984)
        #expect(oldestInside)
        #expect(!window.mightAccept(20_000 - 1985))
        let justOutside = window.accept(20_000 - 1985)
        #expect(!justOutside)
    }
}
