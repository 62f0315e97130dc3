/// A helper program (`nft`, `resolvectl`) ran but reported failure: the command and what it printed.
public struct ChildProcessError: Error, Hashable, CustomStringConvertible {
    public var command: String
    public var status: Int32
    public var output: String

    public init(command: String, status: Int32, output: String) {
        self.command = command
        self.status = status
        self.output = output
    }

    public var description: String {
        "\(self.command) exited with status \(self.status): \(self.output)"
    }
}
