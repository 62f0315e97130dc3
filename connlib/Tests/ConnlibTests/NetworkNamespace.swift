import CNetworkTestSupport
import Connlib
import Foundation
import Glibc

/// Runs a test body in a fresh network namespace of its own.
///
/// Network namespaces belong to threads, so the body runs on a dedicated thread that leaves the process's
/// namespace first; the programs it starts (`ip`, `nft`) inherit that thread's namespace. When the thread ends and
/// the body's descriptors are closed, the namespace and every link, route, rule and nft table in it vanish:
/// nothing is left behind in the host's namespace, whatever the outcome.
enum NetworkNamespace {
    /// The longest a body may run; every kernel call and program it makes is bounded well below this.
    static let timeoutSeconds = 60

    /// Runs `body` in the namespace and returns what it observed. Expectations belong outside, on the test's own
    /// task: an issue recorded on another thread is not attributed to the running test.
    static func run<Observed: Sendable>(_ body: @escaping @Sendable () throws -> Observed) throws -> Observed {
        let outcome = Outcome<Observed>()
        let thread = Thread {
            do {
                let result = fz_test_unshare_network_namespace()
                guard result == 0 else {
                    throw CommandError(command: "unshare(CLONE_NEWNET)", status: -result, output: "")
                }
                outcome.result = .success(try body())
            } catch {
                outcome.result = .failure(error)
            }
            outcome.done.signal()
        }
        thread.start()
        guard outcome.done.wait(timeout: .now() + .seconds(Self.timeoutSeconds)) == .success else {
            throw CommandError(command: "test body in a network namespace", status: ETIMEDOUT, output: "timed out")
        }
        return try outcome.result!.get()
    }

    /// Runs `ip` with `arguments` in the calling thread's namespace and returns its output; a failure throws.
    @discardableResult
    static func ip(_ arguments: String...) throws -> String {
        try self.command("ip", arguments)
    }

    @discardableResult
    static func command(_ executable: String, _ arguments: [String], input: String = "") throws -> String {
        let result = try ChildProcess.run(executable, arguments, input: input, timeout: .seconds(10))
        guard result.status == 0 else {
            throw CommandError(
                command: ([executable] + arguments).joined(separator: " "),
                status: result.status,
                output: result.output
            )
        }
        return result.output
    }

    /// `ip -j ...`'s output as an array of objects.
    static func ipJSON(_ arguments: String...) throws -> [[String: Any]] {
        let output = try self.command("ip", ["-j"] + arguments)
        guard !output.isEmpty else { return [] }
        return try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
    }

    /// Opens a TUN device in the calling thread's namespace; the caller closes it.
    static func openTUN(_ name: String) throws -> Int32 {
        let fd = fz_test_open_tun(name)
        guard fd >= 0 else {
            throw CommandError(command: "open TUN \(name)", status: -fd, output: "")
        }
        return fd
    }
}

struct CommandError: Error, CustomStringConvertible {
    var command: String
    var status: Int32
    var output: String

    var description: String { "\(self.command) failed with \(self.status): \(self.output)" }
}

/// What the namespace's thread hands back. `@unchecked Sendable`: `result` is written by that thread before it
/// signals `done`, and read by the waiting thread only after `done`.
private final class Outcome<Observed>: @unchecked Sendable {
    var result: Result<Observed, any Error>?
    let done = DispatchSemaphore(value: 0)
}
