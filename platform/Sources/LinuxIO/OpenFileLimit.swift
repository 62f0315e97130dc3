import Glibc

/// The process's limit on open file descriptors (`RLIMIT_NOFILE`, getrlimit(2)).
///
/// Distributions start services with a soft limit of 1,024 (systemd's default, kept low for select(2)) and a
/// hard limit far above it; a process that polls with epoll can raise its soft limit to the hard one without
/// privileges. A relay holds a socket per allocation and family, so 1,024 caps it at a few hundred clients.
public struct OpenFileLimit: Hashable, Sendable {
    /// The limit in force; `RLIM_INFINITY` shows as `UInt64.max`.
    public var soft: UInt64
    /// The ceiling an unprivileged process may raise `soft` to.
    public var hard: UInt64

    public init(soft: UInt64, hard: UInt64) {
        self.soft = soft
        self.hard = hard
    }

    /// The process's current limits.
    public static func current() throws(SystemCallError) -> OpenFileLimit {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            throw SystemCallError(operation: "getrlimit(RLIMIT_NOFILE)", errno: errno)
        }
        return OpenFileLimit(soft: UInt64(limit.rlim_cur), hard: UInt64(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one and returns the limits now in force.
    @discardableResult
    public static func raiseToHardLimit() throws(SystemCallError) -> OpenFileLimit {
        let current = try Self.current()
        guard current.soft < current.hard else {
            return current
        }
        var raised = rlimit(rlim_cur: rlim_t(current.hard), rlim_max: rlim_t(current.hard))
        guard setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 else {
            throw SystemCallError(operation: "setrlimit(RLIMIT_NOFILE, \(current.hard))", errno: errno)
        }
        return try Self.current()
    }
}
