/// Why an executable could not start or had to stop: a message that names what is wrong and what to do, and the
/// exit status that tells each cause apart (each executable's `Kind` lists its statuses and its help prints them).
public struct ExitFailure<Kind: RawRepresentable & Sendable>: ExitStatusError where Kind.RawValue == Int32 {
    public var kind: Kind
    public var description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    public var exitStatus: Int32 {
        self.kind.rawValue
    }
}
