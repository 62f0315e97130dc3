/// One option as an operator gives it: a command-line flag and the environment variable Firezone reads for it
/// (Firezone's relay CLI, rust/relay/server/src/main.rs), with the words error messages use for it.
public struct OptionKey: Sendable, Hashable, CustomStringConvertible {
    /// What the value is, in words: "listen port", "maximum partition time".
    public var label: String
    /// `--listen-port`.
    public var flag: String
    /// `LISTEN_PORT`.
    public var variable: String

    public init(_ label: String, flag: String, variable: String) {
        self.label = label
        self.flag = flag
        self.variable = variable
    }

    /// `--listen-port / LISTEN_PORT`: every error names both, so the operator finds the option wherever they set it.
    public var description: String {
        "\(self.flag) / \(self.variable)"
    }
}
