import ArgumentParser
import FirezoneCommand
import FirezoneOptions
import Testing

/// A command with statuses of its own, as each executable has.
private struct ProbeCommand: ExecutableCommand {
    enum Status: Int32, Sendable {
        case portalRejected = 6
        case healthAddressTaken = 4
    }

    /// An error only this command knows, which its own rule turns into ``Status/portalRejected``.
    struct PortalGaveUp: Error {}

    struct Unexpected: Error, CustomStringConvertible {
        var description: String { "the event loop could not start" }
    }

    static let configuration = CommandConfiguration(commandName: "probe")
    static var startFailureStatus: Int32 { 7 }

    @Option var count: Int?

    static func exitFailure(for error: any Error) -> (any ExitStatusError)? {
        guard error is PortalGaveUp else {
            return nil
        }
        return ExitFailure(Status.portalRejected, "the portal rejected the token; sign in again")
    }

    func run() async throws {}
}

/// A command that keeps every default of ``ExecutableCommand``.
private struct PlainCommand: ExecutableCommand {
    static let configuration = CommandConfiguration(commandName: "plain")

    func run() async throws {}
}

@Suite struct ExecutableCommandTests {
    private func parseError(_ arguments: [String]) -> any Error {
        do {
            _ = try ProbeCommand.parseAsRoot(arguments)
        } catch {
            return error
        }
        Issue.record("\(arguments) parsed")
        return CancellationError()
    }

    @Test func anExitFailureExitsWithItsOwnStatusAndPrintsItsMessage() {
        let failure = ExitFailure(ProbeCommand.Status.healthAddressTaken, "cannot serve health checks on 0.0.0.0:8080")
        let exit = ProbeCommand.commandExit(for: failure)
        #expect(exit == CommandExit(status: 4, message: "error: cannot serve health checks on 0.0.0.0:8080"))
    }

    @Test func theExecutablesOwnRuleTurnsItsErrorsIntoItsStatuses() {
        let exit = ProbeCommand.commandExit(for: ProbeCommand.PortalGaveUp())
        #expect(exit == CommandExit(status: 6, message: "error: the portal rejected the token; sign in again"))
    }

    @Test func usageErrorsExitWithTwoAsClapDoes() throws {
        let option = try #require(ProbeCommand.commandExit(for: OptionError("invalid listen port (--listen-port)")))
        #expect(option.status == 2)
        #expect(option.message.contains("invalid listen port (--listen-port)"))
        let validation = try #require(ProbeCommand.commandExit(for: ValidationError("--salt must not be empty")))
        #expect(validation.status == 2)
        #expect(validation.message.contains("--salt must not be empty"))
        for arguments in [["--count", "many"], ["--unknown"]] {
            let parsing = try #require(ProbeCommand.commandExit(for: self.parseError(arguments)))
            #expect(parsing.status == 2, "\(arguments)")
            #expect(parsing.message.contains("Usage: probe"), "\(arguments): \(parsing.message)")
        }
    }

    @Test func anyOtherErrorExitsWithTheStartFailureStatusAndItsDescription() throws {
        let exit = try #require(ProbeCommand.commandExit(for: ProbeCommand.Unexpected()))
        #expect(exit.status == 7)
        #expect(exit.message.contains("the event loop could not start"))
        #expect(!exit.message.contains("Usage"))
        let plain = try #require(PlainCommand.commandExit(for: ProbeCommand.Unexpected()))
        #expect(plain.status == 1)
    }

    /// `--help` parses into ArgumentParser's help command, whose `run()` throws what ends the process with 0.
    @Test func helpAndVersionAreLeftToArgumentParserToEndWithStatusZero() {
        #expect(ProbeCommand.commandExit(for: CleanExit.helpRequest(ProbeCommand.self)) == nil)
        #expect(ProbeCommand.commandExit(for: CleanExit.message("1.0.0")) == nil)
    }
}
