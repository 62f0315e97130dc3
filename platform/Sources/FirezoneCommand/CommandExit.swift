/// How an executable ends after an error: the status it exits with and the message it prints on standard error.
public struct CommandExit: Hashable, Sendable {
    public var status: Int32
    public var message: String

    public init(status: Int32, message: String) {
        self.status = status
        self.message = message
    }
}
