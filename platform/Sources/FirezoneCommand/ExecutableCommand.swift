import ArgumentParser
import FirezoneOptions
import Glibc

/// The root command of a Firezone executable: its `main()` runs the parsed command and turns the error that ends it
/// into one message on standard error and an exit status, with no backtrace (Firezone #10290, #10275: the error
/// and its causes). An executable keeps its own statuses and says how its own errors end in ``exitFailure(for:)``.
///
/// The rules, in order:
/// 1. `--help` and `--version` end as ArgumentParser ends them, with status 0.
/// 2. An ``ExitStatusError`` (an ``ExitFailure``), or the one ``exitFailure(for:)`` makes of the error, exits with
///    its status and prints `error: <description>`.
/// 3. A usage error (``OptionError``, a `ValidationError`, an unknown flag) exits with ``OptionError/exitCode`` (2),
///    as clap exits in Firezone's binaries, where ArgumentParser would exit with 64.
/// 4. Anything else could not start: ``startFailureStatus``.
/// Rules 3 and 4 print ArgumentParser's message for the error (with the usage line for a usage error).
public protocol ExecutableCommand: AsyncParsableCommand {
    /// The status of an error no other rule names: the executable could not start or had to stop.
    static var startFailureStatus: Int32 { get }

    /// The failure, with one of the executable's statuses, that an error of its own means (a portal that gave up,
    /// a status file it cannot read); nil leaves the error to the shared rules.
    static func exitFailure(for error: any Error) -> (any ExitStatusError)?
}

extension ExecutableCommand {
    public static var startFailureStatus: Int32 {
        1
    }

    public static func exitFailure(for error: any Error) -> (any ExitStatusError)? {
        nil
    }

    public static func main() async {
        do {
            var command = try Self.parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            guard let exit = Self.commandExit(for: error) else {
                Self.exit(withError: error)
            }
            StandardError.write(exit.message + "\n")
            Glibc.exit(exit.status)
        }
    }

    /// How the process ends after `error` (the rules above); nil for `--help` and `--version`, which ArgumentParser
    /// ends itself.
    public static func commandExit(for error: any Error) -> CommandExit? {
        let code = Self.exitCode(for: error)
        if code == .success {
            return nil
        }
        let translated: any Error = Self.exitFailure(for: error) ?? error
        switch translated {
        case let failure as any ExitStatusError:
            return CommandExit(status: failure.exitStatus, message: "error: \(failure)")
        case is OptionError, is ValidationError:
            return CommandExit(status: OptionError.exitCode, message: Self.fullMessage(for: error))
        default:
            let isUsage = code == .validationFailure
            return CommandExit(
                status: isUsage ? OptionError.exitCode : Self.startFailureStatus,
                message: Self.fullMessage(for: error)
            )
        }
    }
}
