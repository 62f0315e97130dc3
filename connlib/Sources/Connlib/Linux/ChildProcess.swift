import CLinuxIO
import Glibc
import LinuxIO

/// Runs a helper program to completion: `nft` for the gateway's firewall and `resolvectl` for systemd-resolved,
/// both of which are the supported interfaces of their subsystems (their netlink and D-Bus protocols are theirs
/// to change). Standard input comes from `input`, standard output and error are captured together, and a program
/// that outlives `timeout` is killed: a hung helper never hangs the tunnel.
public enum ChildProcess {
    /// Output kept from one run; the rest is read and dropped, so a chatty program cannot grow our memory.
    public static let outputLimit = 65_536
    /// Spawn attempts after an ETXTBSY, 10 ms apart.
    static let busyRetries = 20
    /// CAP_NET_ADMIN (capabilities(7)), which `nft` needs for the gateway's table and `resolvectl` for the client's
    /// DNS settings.
    public static let passedCapability: Int32 = 12

    public struct Result: Sendable {
        /// The exit status, or 128 + the signal number when a signal ended it (as shells report it).
        public var status: Int32
        public var output: String
    }

    /// Runs `executable` and returns its output; a non-zero exit throws a ``ChildProcessError`` with the output.
    @discardableResult
    public static func runChecked(
        _ executable: String,
        _ arguments: [String],
        input: String = "",
        timeout: Duration = .seconds(10)
    ) throws -> String {
        let result = try Self.run(executable, arguments, input: input, timeout: timeout)
        guard result.status == 0 else {
            let command = ([executable] + arguments).joined(separator: " ")
            throw ChildProcessError(command: command, status: result.status, output: result.output)
        }
        return result.output
    }

    /// Runs `executable` (a path, or a name looked up in PATH) with `arguments`.
    public static func run(
        _ executable: String,
        _ arguments: [String],
        input: String = "",
        timeout: Duration = .seconds(10)
    ) throws(SystemCallError) -> Result {
        let operation = "run \(executable)"
        var inputPipe: [Int32] = [0, 0]
        var outputPipe: [Int32] = [0, 0]
        guard Self.makePipe(&inputPipe) else { throw SystemCallError(operation: operation, errno: errno) }
        guard Self.makePipe(&outputPipe) else {
            let error = errno
            close(inputPipe[0])
            close(inputPipe[1])
            throw SystemCallError(operation: operation, errno: error)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 2)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer {
            for argument in argv { free(argument) }
        }
        // A non-root process that holds CAP_NET_ADMIN through file capabilities (`setcap cap_net_admin+eip`, what
        // both executables' --help recommend) would start `nft` without it: execve(2) keeps only ambient
        // capabilities across a non-privileged exec (capabilities(7), "Transformation of capabilities during
        // execve()"). The sets are per thread, so this runs on the spawning thread each time. A failure leaves the
        // child without the capability, and the child's own error says so.
        _ = fz_capability_make_ambient(Self.passedCapability)
        var pid: pid_t = 0
        var spawned = posix_spawnp(&pid, executable, &actions, nil, argv, environ)
        // ETXTBSY: the program file is still open for writing somewhere, typically in a child another thread forked
        // while the file was being written (the race Go's os/exec documents); it clears once that child execs.
        var retries = 0
        while spawned == ETXTBSY && retries < Self.busyRetries {
            usleep(10_000)
            retries += 1
            spawned = posix_spawnp(&pid, executable, &actions, nil, argv, environ)
        }
        close(inputPipe[0])
        close(outputPipe[1])
        guard spawned == 0 else {
            close(inputPipe[1])
            close(outputPipe[0])
            throw SystemCallError(operation: operation, errno: spawned)
        }

        // Our inputs (an nft ruleset) are far below the pipe's 64 KiB, so this write does not wait for the reader.
        var bytes = Array(input.utf8)
        Self.withBrokenPipeAsError {
            var written = 0
            while written < bytes.count {
                let result = bytes.withUnsafeMutableBytes {
                    write(inputPipe[1], $0.baseAddress! + written, $0.count - written)
                }
                if result < 0 && errno == EINTR { continue }
                // EPIPE: the program exited without reading all of it; its exit status says whether that was wrong.
                if result <= 0 { break }
                written += result
            }
        }
        close(inputPipe[1])
        bytes.removeAll()

        let deadline = ContinuousClock.now + timeout
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var timedOut = false
        while true {
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                timedOut = true
                break
            }
            var descriptor = pollfd(fd: outputPipe[0], events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(clamping: remaining.components.seconds * 1000 + 1)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let count = chunk.withUnsafeMutableBytes { read(outputPipe[0], $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            if output.count < Self.outputLimit {
                output.append(contentsOf: chunk[0..<min(count, Self.outputLimit - output.count)])
            }
        }
        close(outputPipe[0])
        if timedOut {
            kill(pid, SIGKILL)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if timedOut {
            throw SystemCallError(operation: "\(operation) (killed after \(timeout))", errno: ETIMEDOUT)
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as they are macros.
        let signal = status & 0x7f
        let exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        return Result(status: exitStatus, output: String(decoding: output, as: UTF8.self))
    }

    /// Runs `body` with SIGPIPE blocked on this thread, so that a write to a pipe whose reader has gone fails with
    /// EPIPE instead of killing the process (write(2), signal(7)); a SIGPIPE the write raised is taken off this
    /// thread before the mask is restored. The process-wide disposition stays the host program's.
    private static func withBrokenPipeAsError(_ body: () -> Void) {
        var brokenPipe = sigset_t()
        sigemptyset(&brokenPipe)
        sigaddset(&brokenPipe, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &brokenPipe, &previous)
        body()
        var pending = sigset_t()
        sigpending(&pending)
        if sigismember(&pending, SIGPIPE) == 1 && sigismember(&previous, SIGPIPE) == 0 {
            var immediately = timespec(tv_sec: 0, tv_nsec: 0)
            _ = sigtimedwait(&brokenPipe, nil, &immediately)
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }

    /// A pipe whose ends close on exec, so that only the dup2'd copies reach the child. Glibc's Swift module does
    /// not import pipe2(2), so the flag is set right after.
    private static func makePipe(_ ends: inout [Int32]) -> Bool {
        guard pipe(&ends) == 0 else { return false }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        return true
    }
}
