/// Durations as Firezone's binaries read them with the `humantime` crate: one or more numbers, each followed by
/// a unit, optionally separated by spaces (`900s`, `15m`, `1h 30m`, `2days`).
///
/// A bare number is refused, as humantime refuses it ("time unit needed"): `900` could mean seconds or
/// milliseconds. Units: `ns` `nsec`, `us` `usec`, `ms` `msec`, `s` `sec` `second` `seconds`, `m` `min` `minute`
/// `minutes`, `h` `hr` `hour` `hours`, `d` `day` `days`, `w` `week` `weeks`. humantime's months and years (of
/// 30.44 and 365.25 days) are left out: no Firezone timeout is that long.
public enum HumanDuration {
    /// Why a text is not a duration; the caller adds which option it was.
    public enum ParseError: Error, Hashable, CustomStringConvertible {
        case empty
        case unitNeeded
        case unknownUnit(String)
        case numberExpected
        case tooLarge
        case unexpectedCharacter(Character)

        public var description: String {
            switch self {
            case .empty: "empty"
            case .unitNeeded: "a unit is needed"
            case .unknownUnit(let unit): "unknown unit '\(unit)'"
            case .numberExpected: "a number is expected before each unit"
            case .tooLarge: "too large"
            case .unexpectedCharacter(let character): "unexpected '\(character)'"
            }
        }
    }

    private static let units: [(names: [String], nanoseconds: Int64)] = [
        (["ns", "nsec", "nanosecond", "nanoseconds"], 1),
        (["us", "usec", "microsecond", "microseconds"], 1_000),
        (["ms", "msec", "millisecond", "milliseconds"], 1_000_000),
        (["s", "sec", "second", "seconds"], 1_000_000_000),
        (["m", "min", "minute", "minutes"], 60_000_000_000),
        (["h", "hr", "hour", "hours"], 3_600_000_000_000),
        (["d", "day", "days"], 86_400_000_000_000),
        (["w", "week", "weeks"], 604_800_000_000_000),
    ]

    public static func parse(_ text: String) throws(ParseError) -> Duration {
        var rest = Substring(text)
        var total: Int64 = 0
        rest = rest.drop(while: \.isWhitespace)
        guard !rest.isEmpty else {
            throw .empty
        }
        while !rest.isEmpty {
            let digits = rest.prefix(while: \.isASCIIDigit)
            guard !digits.isEmpty else {
                guard let character = rest.first, !character.isLetter else {
                    throw .numberExpected
                }
                throw .unexpectedCharacter(character)
            }
            rest = rest.dropFirst(digits.count).drop(while: \.isWhitespace)
            let unit = rest.prefix(while: \.isLetter)
            guard !unit.isEmpty else {
                guard let character = rest.first else {
                    throw .unitNeeded
                }
                throw .unexpectedCharacter(character)
            }
            rest = rest.dropFirst(unit.count).drop(while: \.isWhitespace)
            guard let scale = Self.units.first(where: { $0.names.contains(String(unit)) })?.nanoseconds else {
                throw .unknownUnit(String(unit))
            }
            guard let amount = Int64(digits) else {
                throw .tooLarge
            }
            let (product, overflow) = amount.multipliedReportingOverflow(by: scale)
            let (sum, sumOverflow) = total.addingReportingOverflow(product)
            guard !overflow, !sumOverflow else {
                throw .tooLarge
            }
            total = sum
        }
        return .nanoseconds(total)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool {
        self.isASCII && self.isNumber
    }
}
