/// The seeds a randomised test runs with: `SIMULATION_SEED` alone when it is set (to replay a failure),
/// otherwise `count` fixed seeds, so that every run of the suite checks the same cases.
public enum TestSeeds {
    public static let environmentVariable = "SIMULATION_SEED"

    public static func seeds(count: Int) -> [UInt64] {
        if let text = getenv(Self.environmentVariable).map({ String(cString: $0) }), let seed = UInt64(text) {
            return [seed]
        }
        return (0..<UInt64(count)).map { $0 &* 0x9E37_79B9 &+ 1 }
    }

    /// The line a failing randomised test prints so that its run can be replayed.
    public static func replayHint(_ seed: UInt64) -> String {
        "replay with \(Self.environmentVariable)=\(seed)"
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
