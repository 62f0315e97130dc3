import ArgumentParser
import FirezoneCommand

/// The relay: STUN/TURN on the listening port, `/healthz` and `/metrics` on the health address, and the portal
/// connection when it has a token.
///
/// Exit status: 0 after SIGTERM or SIGINT, 1 when the relay cannot start or the portal gives up on it (a rejected
/// token, the partition time passed), 2 on a usage error.
@main
struct FirezoneRelay: ExecutableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firezone-relay",
        abstract: "Firezone's STUN/TURN relay.",
        subcommands: [Run.self, Credentials.self],
        defaultSubcommand: Run.self
    )
}

/// Why the relay could not start or had to stop; exits with status 1.
struct RelayError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
