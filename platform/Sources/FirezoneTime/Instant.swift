/// A point in monotonic time, as sans-IO cores see it: nanoseconds from an arbitrary origin.
///
/// Cores never read a clock; their shells convert `ContinuousClock` readings (CLOCK_BOOTTIME on Linux, so
/// suspend counts) into `Instant`s and pass them in, and tests start from `.zero` and advance by hand.
/// Wall-clock time (credential expiry, TAI64N, nonces) is a separate value, never derived from this one alone.
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64

    @inlinable
    public init(nanoseconds: UInt64) {
        self.nanoseconds = nanoseconds
    }

    public static let zero = Instant(nanoseconds: 0)

    @inlinable
    public static func < (lhs: Instant, rhs: Instant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    /// `self` moved by `duration`, saturating at the ends of the range.
    @inlinable
    public static func + (lhs: Instant, rhs: Duration) -> Instant {
        let delta = rhs.nanoseconds
        if delta >= 0 {
            let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(UInt64(delta))
            return Instant(nanoseconds: overflow ? .max : sum)
        }
        let magnitude = delta.magnitude
        return Instant(nanoseconds: lhs.nanoseconds > magnitude ? lhs.nanoseconds - magnitude : 0)
    }

    @inlinable
    public static func += (lhs: inout Instant, rhs: Duration) {
        lhs = lhs + rhs
    }

    /// `self` moved back by `duration`, saturating at the ends of the range.
    @inlinable
    public static func - (lhs: Instant, rhs: Duration) -> Instant {
        lhs + (Duration.zero - rhs)
    }

    /// The time from `rhs` to `lhs`; negative when `lhs` is earlier.
    @inlinable
    public static func - (lhs: Instant, rhs: Instant) -> Duration {
        if lhs >= rhs {
            return .nanoseconds(Int64(clamping: lhs.nanoseconds - rhs.nanoseconds))
        }
        return .zero - .nanoseconds(Int64(clamping: rhs.nanoseconds - lhs.nanoseconds))
    }

    public var description: String {
        "\(self.nanoseconds / 1_000_000_000).\(String(self.nanoseconds % 1_000_000_000 + 1_000_000_000).dropFirst())s"
    }
}

extension Duration {
    /// The whole duration in nanoseconds, saturating at the ends of `Int64`.
    @inlinable
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow {
            return seconds < 0 ? .min : .max
        }
        return scaled.addingReportingOverflow(attoseconds / 1_000_000_000).overflow
            ? (seconds < 0 ? .min : .max) : scaled + attoseconds / 1_000_000_000
    }

    /// The whole duration in seconds, rounded towards zero.
    @inlinable
    public var wholeSeconds: Int64 {
        self.components.seconds
    }
}
