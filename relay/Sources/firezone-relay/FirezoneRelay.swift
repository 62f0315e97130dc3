import ArgumentParser
import FirezoneOptions
import Glibc

/// The relay: STUN/TURN on the listening port, `/healthz` and `/metrics` on the health address, and the portal
/// connection when it has a token.
///
/// Exit status: 0 after SIGTERM or SIGINT, 1 when the relay cannot start or the portal gives up on it (a rejected
/// token, the partition time passed), 2 on a usage error.
@main
struct FirezoneRelay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firezone-relay",
        abstract: "Firezone's STUN/TURN relay.",
        subcommands: [Run.self, Credentials.self],
        defaultSubcommand: Run.self
    )

    static func main() async {
        do {
            var command = try Self.parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let code = Self.exitCode(for: error)
            if code == .success {
                Self.exit(withError: error)
            }
            // ArgumentParser numbers usage errors 64; Firezone's binaries exit with 2, as clap does.
            let isUsage = error is OptionError || error is ValidationError || code == .validationFailure
            StandardError.write(Self.fullMessage(for: error) + "\n")
            Glibc.exit(isUsage ? OptionError.exitCode : code.rawValue)
        }
    }
}

/// Why the relay could not start or had to stop; exits with status 1.
struct RelayError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

enum StandardError {
    static func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = Glibc.write(STDERR_FILENO, &bytes, bytes.count)
    }
}
