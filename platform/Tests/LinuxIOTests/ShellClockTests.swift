import FirezoneTime
import LinuxIO
import Testing

struct ShellClockTests {
    @Test func readingsNeverGoBackAndFollowTheClock() {
        let clock = ShellClock()
        var previous = clock.now()
        for _ in 0..<1000 {
            let next = clock.now()
            #expect(next >= previous)
            previous = next
        }
        let before = clock.now()
        let spin = ContinuousClock.now
        while ContinuousClock.now - spin < .milliseconds(2) {}
        #expect(clock.now() - before >= .milliseconds(2))
    }

    @Test func aReadingBeforeTheOriginIsZeroAndAFarOneSaturates() {
        let origin = ContinuousClock.now
        #expect(ShellClock.instant(origin, since: origin) == .zero)
        #expect(ShellClock.instant(origin - .seconds(5), since: origin) == .zero)
        #expect(ShellClock.instant(origin + .milliseconds(1500), since: origin) == Instant(nanoseconds: 1_500_000_000))
        let farReading = ShellClock.instant(origin + .seconds(Int64.max / 2), since: origin)
        #expect(farReading == Instant(nanoseconds: UInt64(Int64.max)))
    }

    @Test func wallClockTimeIsTodayAndNeverBefore1970() {
        // 2020-01-01: any machine running this is later.
        #expect(ShellClock().unixTime() > .seconds(1_577_836_800))
        #expect(ShellClock.unixTime(seconds: 12, nanoseconds: 500) == .seconds(12) + .nanoseconds(500))
        #expect(ShellClock.unixTime(seconds: -1, nanoseconds: 999_999_999) == .zero)
        #expect(ShellClock.unixTime(seconds: .min, nanoseconds: .min) == .zero)
        #expect(ShellClock.unixTime(seconds: 3, nanoseconds: -7) == .seconds(3))
        #expect(ShellClock.unixTime(seconds: 3, nanoseconds: 5_000_000_000) == .seconds(3) + .nanoseconds(999_999_999))
        #expect(ShellClock.unixTime(seconds: .max, nanoseconds: 0) == .seconds(Int64.max))
    }
}

struct EpollTimeoutTests {
    let now = Instant(nanoseconds: 50_000_000_000)

    @Test func noDeadlineWaitsForever() {
        #expect(EventLoopDriver.epollTimeout(until: nil, now: self.now) == -1)
    }

    @Test func aPassedDeadlineDoesNotWait() {
        #expect(EventLoopDriver.epollTimeout(until: self.now, now: self.now) == 0)
        #expect(EventLoopDriver.epollTimeout(until: self.now - .seconds(3), now: self.now) == 0)
        #expect(EventLoopDriver.epollTimeout(until: .zero, now: Instant(nanoseconds: .max)) == 0)
    }

    @Test func theWaitIsRoundedUpToWholeMilliseconds() {
        #expect(EventLoopDriver.epollTimeout(until: self.now + .nanoseconds(1), now: self.now) == 1)
        #expect(EventLoopDriver.epollTimeout(until: self.now + .microseconds(999), now: self.now) == 1)
        #expect(EventLoopDriver.epollTimeout(until: self.now + .milliseconds(1), now: self.now) == 1)
        #expect(EventLoopDriver.epollTimeout(until: self.now + .microseconds(1001), now: self.now) == 2)
        #expect(EventLoopDriver.epollTimeout(until: self.now + .microseconds(250_500), now: self.now) == 251)
    }

    @Test func aFarDeadlineIsClampedToTheLongestWait() {
        let longest = Int32(EventLoopDriver.longestWait.nanoseconds / 1_000_000)
        #expect(EventLoopDriver.epollTimeout(until: self.now + .seconds(600), now: self.now) == longest)
        #expect(EventLoopDriver.epollTimeout(until: Instant(nanoseconds: .max), now: .zero) == longest)
    }
}
