/// A usage error: an option that is missing, malformed or contradicts another. The executable prints
/// ``description`` and exits with ``exitCode``.
///
/// Messages name the flag and the environment variable and quote the offending text, except for secrets: a
/// secret's value, or any part of it, never appears in a message.
public struct OptionError: Error, Hashable, CustomStringConvertible {
    /// The status of a usage error, as Firezone's binaries exit on a bad option.
    public static let exitCode: Int32 = 2

    public var description: String

    public init(_ description: String) {
        self.description = description
    }

    /// `invalid listen port (--listen-port / LISTEN_PORT): '0'; expected a port from 1 to 65535`.
    @inline(never)
    public static func invalid(_ key: OptionKey, text: String, expected: String) -> OptionError {
        OptionError("invalid \(key.label) (\(key)): '\(text)'; expected \(expected)")
    }

    @inline(never)
    static func invalidSecret(_ key: OptionKey, reason: String) -> OptionError {
        OptionError("invalid \(key.label) (\(key)): \(reason)")
    }
}
