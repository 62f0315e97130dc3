import Logging

/// The level a `RUST_LOG` value sets for us, read with the rules of tracing-subscriber's `EnvFilter` that matter
/// to an executable with one logger.
///
/// `RUST_LOG` is a comma-separated list of directives, each `LEVEL`, `TARGET=LEVEL` or `TARGET` (all levels for
/// that target); levels are `off`, `error`, `warn`, `info`, `debug`, `trace` in any case, or `0` (off) to `5`
/// (trace). The rule:
/// - A targeted directive applies when one of our targets starts with its target (`firezone` and
///   `firezone_relay` both apply to `firezone_relay`, as tracing matches module path prefixes); of those, the
///   longest target wins, and of equally long ones the last.
/// - Otherwise the last bare level applies (`firezone_relay=debug,warn` → debug; `str0m=trace,warn` → warning).
/// - Otherwise the level is `info`. tracing would log nothing in that case; a relay silenced by a directive that
///   names only other crates helps nobody.
/// - Span filters (`target[span{field}]=level`) never apply: we log no spans.
///
/// `off` maps to `critical`, which nothing of ours logs at; `warn` to `warning`.
public enum LogDirectives {
    /// The level when `RUST_LOG` is unset or names nothing of ours.
    public static let defaultLevel = Logger.Level.info

    public struct ParseError: Error, Hashable, CustomStringConvertible {
        public var directive: String

        public init(directive: String) {
            self.directive = directive
        }

        public var description: String {
            "invalid directive '\(self.directive)'; expected LEVEL, TARGET=LEVEL or TARGET with a level of off, "
                + "error, warn, info, debug or trace"
        }
    }

    public static func level(of directives: String, for targets: [String]) throws(ParseError) -> Logger.Level {
        var targeted: (length: Int, level: Logger.Level)?
        var bare: Logger.Level?
        for part in directives.split(separator: ",") {
            let directive = part.trimmingWhitespace()
            if directive.isEmpty || directive.contains("[") {
                continue
            }
            let target: Substring
            let level: Logger.Level
            if let equals = directive.firstIndex(of: "=") {
                target = directive[..<equals].trimmingWhitespace()
                let levelText = directive[directive.index(after: equals)...].trimmingWhitespace()
                guard !target.isEmpty, let parsed = Self.parseLevel(levelText) else {
                    throw ParseError(directive: String(directive))
                }
                level = parsed
            } else if let parsed = Self.parseLevel(directive) {
                bare = parsed
                continue
            } else {
                target = directive
                level = .trace
            }
            guard targets.contains(where: { $0.hasPrefix(target) }) else {
                continue
            }
            if let current = targeted, target.count < current.length {
                continue
            }
            targeted = (target.count, level)
        }
        return targeted?.level ?? bare ?? Self.defaultLevel
    }

    private static func parseLevel(_ text: Substring) -> Logger.Level? {
        switch text.lowercased() {
        case "off", "0": .critical
        case "error", "1": .error
        case "warn", "2": .warning
        case "info", "3": .info
        case "debug", "4": .debug
        case "trace", "5": .trace
        default: nil
        }
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        guard let first = self.firstIndex(where: { !$0.isWhitespace }),
            let last = self.lastIndex(where: { !$0.isWhitespace })
        else {
            return self[self.endIndex...]
        }
        return self[first...last]
    }
}
