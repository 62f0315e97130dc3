import FirezoneTime
import Testing

struct InstantTests {
    @Test func addingAndSubtractingADurationMoveTheInstant() {
        let start = Instant(nanoseconds: 5_000_000_000)
        #expect(start + .seconds(2) == Instant(nanoseconds: 7_000_000_000))
        #expect(start - .seconds(2) == Instant(nanoseconds: 3_000_000_000))
        #expect(start - .milliseconds(-1) == Instant(nanoseconds: 5_001_000_000))
        #expect(start + .seconds(-1) == Instant(nanoseconds: 4_000_000_000))
    }

    @Test func movingPastEitherEndSaturates() {
        #expect(Instant(nanoseconds: 1) - .seconds(1) == .zero)
        #expect(Instant(nanoseconds: .max - 1) + .seconds(1) == Instant(nanoseconds: .max))
        #expect(Instant(nanoseconds: 1) + .seconds(-1) == .zero)
    }

    @Test func theDifferenceOfTwoInstantsIsSigned() {
        let early = Instant(nanoseconds: 1_000)
        let late = Instant(nanoseconds: 3_500)
        #expect(late - early == .nanoseconds(2_500))
        #expect(early - late == .nanoseconds(-2_500))
        #expect(late - late == .zero)
    }

    @Test func durationsReadBackInNanosecondsAndWholeSeconds() {
        #expect(Duration.milliseconds(1_500).nanoseconds == 1_500_000_000)
        #expect(Duration.milliseconds(1_500).wholeSeconds == 1)
        #expect(Duration.seconds(Int64.max).nanoseconds == .max)
        #expect(Duration.seconds(Int64.min).nanoseconds == .min)
    }

    @Test func descriptionShowsSecondsWithNineDecimals() {
        #expect(Instant(nanoseconds: 1_000_000_001).description == "1.000000001s")
        #expect(Instant.zero.description == "0.000000000s")
    }
}
