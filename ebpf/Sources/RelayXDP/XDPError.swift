import CLibBPF

/// Why the XDP program could not be loaded, attached or kept in sync: the step, and the kernel's or libbpf's
/// answer.
public struct XDPError: Error, Hashable, CustomStringConvertible {
    /// What was being done, for example "attach to eth0 in driver mode".
    public var operation: String
    /// The positive errno value.
    public var errno: Int32

    public init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        var message = [CChar](repeating: 0, count: 256)
        _ = libbpf_strerror(-self.errno, &message, message.count)
        let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return "\(self.operation): \(text) (errno \(self.errno))"
    }
}
