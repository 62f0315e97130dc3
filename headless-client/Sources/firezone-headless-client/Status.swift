import ArgumentParser
import FirezoneOptions
import Glibc
import HeadlessClient

/// `firezone-headless-client status`: what the running client last wrote to its status file, for a person.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show whether the running client is signed in, its resources and its connections."
    )

    @Option(
        name: .customLong("status-path"),
        help:
            "The running client's status file (env FIREZONE_STATUS_PATH, default \(HeadlessClientOptions.defaultStatusPath))."
    )
    var statusPath: String?

    func run() throws {
        let reader = OptionReader(environment: OptionReader.processEnvironment())
        let path =
            reader.text(HeadlessClientOptions.statusPathKey, flag: self.statusPath)
            ?? HeadlessClientOptions.defaultStatusPath
        let status = try StatusFile(path: path).read()
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        print(status.render(unixTime: Int64(now.tv_sec)), terminator: "")
    }
}
