import Glibc

/// A system call failed: what was being done, and the positive errno value the kernel (or a library that speaks
/// errno, such as libbpf) answered.
public struct SystemCallError: Error, Hashable, CustomStringConvertible {
    /// What was being done, for example "bind 10.0.0.1:3478".
    public var operation: String
    public var errno: Int32

    public init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        "\(self.operation): \(String(cString: strerror(self.errno))) (errno \(self.errno))"
    }
}
