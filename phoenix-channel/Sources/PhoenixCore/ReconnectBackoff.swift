/// Firezone 685acdac3a's reconnect schedule: the first retry at once, then the `backoff` crate's exponential backoff
/// (``PhoenixConstants``), restarted after every successful join.
///
/// As in the crate, the ±50 % randomisation applies to the current interval and the cap to the interval
/// itself, so a single delay can reach 1.5 × 60 s.
struct ReconnectBackoff {
    private var interval: Duration = PhoenixConstants.initialReconnectInterval
    private var retries = 0

    mutating func reset() {
        self.interval = PhoenixConstants.initialReconnectInterval
        self.retries = 0
    }

    mutating func nextDelay(using rng: inout some RandomNumberGenerator) -> Duration {
        defer { self.retries += 1 }
        if self.retries == 0 {
            return .zero
        }
        let factor =
            1
            + Double.random(
                in: -PhoenixConstants.reconnectRandomization...PhoenixConstants.reconnectRandomization,
                using: &rng
            )
        let delay = self.interval * factor
        let maximum = PhoenixConstants.maximumReconnectInterval
        if self.interval * PhoenixConstants.reconnectMultiplier >= maximum {
            self.interval = maximum
        } else {
            self.interval = self.interval * PhoenixConstants.reconnectMultiplier
        }
        return delay
    }
}
