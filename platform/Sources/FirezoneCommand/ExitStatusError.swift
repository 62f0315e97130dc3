/// An error that ends an executable with a status of its own: ``ExecutableCommand``'s `main()` prints
/// `error: <description>` and exits with ``exitStatus``, whatever the executable's `Kind` of statuses.
public protocol ExitStatusError: Error, CustomStringConvertible {
    var exitStatus: Int32 { get }
}
