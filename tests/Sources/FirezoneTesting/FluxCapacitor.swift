import FirezoneTime

/// The one virtual clock of a simulation: monotonic time as an ``Instant`` and the wall clock that goes with it.
///
/// It moves only when told to, never backwards, so a test reads the same times on every run. Sans-IO cores take
/// `now` from ``now`` and, where they need wall-clock time (handshake timestamps, credential expiry), ``unixTime``.
public struct FluxCapacitor: Sendable {
    public private(set) var now: Instant
    /// Wall-clock time at ``Instant/zero``; ``unixTime`` moves in step with ``now``.
    public let unixTimeAtZero: Duration

    /// 2023-06-05 00:00:00 UTC: a fixed wall-clock start, so that timestamps and credential expiries repeat.
    public static let defaultUnixTimeAtZero: Duration = .seconds(1_685_923_200)

    public init(now: Instant = .zero, unixTimeAtZero: Duration = Self.defaultUnixTimeAtZero) {
        self.now = now
        self.unixTimeAtZero = unixTimeAtZero
    }

    /// The wall clock at ``now``.
    public var unixTime: Duration {
        self.unixTimeAtZero + (self.now - .zero)
    }

    /// Moves the clock to `instant`; an earlier instant leaves it where it is.
    public mutating func advance(to instant: Instant) {
        self.now = max(self.now, instant)
    }

    public mutating func advance(by duration: Duration) {
        self.advance(to: self.now + duration)
    }
}
