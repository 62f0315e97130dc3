import FirezoneTime
import Glibc

/// The clocks an IO shell reads for its sans-IO core: monotonic time as an ``Instant``, and wall-clock time.
///
/// Monotonic time comes from `ContinuousClock`, which on Linux is CLOCK_BOOTTIME: it keeps counting while the
/// machine is suspended, so timers (keepalives, allocation lifetimes) see the time that really passed. It is read
/// on every call and measured from the moment the clock was made, which is `Instant.zero`.
///
/// Wall-clock time (CLOCK_REALTIME) is read on every call too, never derived from a start time plus elapsed
/// monotonic time: the wall clock may be stepped (NTP, the user), and credential expiry and WireGuard's TAI64N
/// timestamps must follow it.
///
/// Neither reading traps: a reading before the origin is `.zero`, one too far in the future saturates, and a wall
/// clock set before 1970 reads as the epoch.
public struct ShellClock: Sendable {
    private let origin: ContinuousClock.Instant

    public init() {
        self.origin = ContinuousClock.now
    }

    /// Monotonic time since this clock was made.
    public func now() -> Instant {
        Self.instant(ContinuousClock.now, since: self.origin)
    }

    /// Time since 1970 (CLOCK_REALTIME).
    public func unixTime() -> Duration {
        var time = timespec()
        guard clock_gettime(CLOCK_REALTIME, &time) == 0 else {
            return .zero
        }
        return Self.unixTime(seconds: Int64(time.tv_sec), nanoseconds: Int64(time.tv_nsec))
    }

    /// `reading` as an ``Instant`` counted from `origin`: `.zero` for a reading before the origin, saturating
    /// far after it.
    public static func instant(_ reading: ContinuousClock.Instant, since origin: ContinuousClock.Instant) -> Instant {
        let elapsed = origin.duration(to: reading)
        guard elapsed > .zero else {
            return .zero
        }
        return Instant.zero + elapsed
    }

    /// A `timespec` of CLOCK_REALTIME as time since 1970: `.zero` before 1970, nanoseconds outside
    /// 0..<1 000 000 000 clamped into that range.
    public static func unixTime(seconds: Int64, nanoseconds: Int64) -> Duration {
        guard seconds >= 0 else {
            return .zero
        }
        return .seconds(seconds) + .nanoseconds(min(max(nanoseconds, 0), 999_999_999))
    }
}
